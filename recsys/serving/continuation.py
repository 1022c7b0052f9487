"""Playlist continuation by a hybrid of four signals, each seed heard: numpy only, no torch, no scipy.

For seeds S, every candidate track t gets

    score(t) = item · I(t)/max I + playlist · P(t)/max P + embedding · cos(q, t) + popularity · pop(t)

- ``I``, item neighbourhoods: each seed's precomputed neighbour list (co-occurrence in playlists
  plus artist and album links, :mod:`recsys.models.neighbourhoods`), fused over the seeds as a
  mix of summed cosines (ItemKNN) and reciprocal ranks (so a seed with weak similarities still
  brings its own candidates);
- ``P``, playlist neighbourhood: training playlists holding several seeds vote for their tracks
  with weight cos(S, p)^power, so seeds that share playlists keep their common ground;
- ``cos(q, t)``: the GNN embedding cosine to the seeds' mean (:func:`recsys.scoring.seed_query`);
- ``pop``: log playlist count, a prior that orders what the other signals cannot tell apart.

The blend weights are chosen on validation playlists and stored in the artifact. Then the list
is built: never a seed or another version of one (:func:`recsys.text.song_key`), one version of a
song, at most ``max_per_artist`` per artist, and — so that no seed of a hand-picked mix drowns
the others — a share ``seed_share`` of the first page spread evenly over the seeds (when each gets
at least ``MIN_SHARE``), each track counted for the seed that contributed most to it (``because``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from recsys.scoring import seed_query
from recsys.text import song_key

# (query vector or matrix of them, n) -> (rows, cosines) of the n nearest tracks of each, in one
# call: a faiss index in serving.
Nearest = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
# What a listener sees first: every seed gets its share of these when each share holds at least
# MIN_SHARE tracks (up to 10 seeds). A longer seed list is a playlist to continue, not a mix to
# balance: reserving one slot per seed there spent the first page on its odd tracks and cost 1.4%
# validation NDCG@500 on the synthetic MPD (17 seeds on average).
FIRST_PAGE = 20
MIN_SHARE = 2


@dataclass(frozen=True)
class Blend:
    """The hybrid's weights and knobs; stored in the artifact's manifest (``config.blend``)."""

    item: float = 1.0
    playlist: float = 0.5
    embedding: float = 0.3
    popularity: float = 0.05
    fusion: float = 0.5             # 0: sum of neighbour cosines (ItemKNN), 1: reciprocal-rank fusion
    rrf_offset: float = 10.0        # rank offset of the fusion: 1/(offset + rank), rank from 1
    playlist_neighbours: int = 50   # most similar training playlists that vote (bounds a request's work)
    playlist_power: float = 2.0     # a playlist votes cos(S, p)^power: > 1 favours playlists holding many seeds
    embedding_candidates: int = 200 # nearest tracks by embedding added to the candidates
    seed_share: float = 1.0         # share of the first page (FIRST_PAGE tracks) spread evenly over the seeds

    @classmethod
    def from_dict(cls, values: dict) -> "Blend":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def to_dict(self) -> dict:
        return asdict(self)


# An embedding model served alone (a GNN artifact without neighbourhoods).
EMBEDDING_ONLY = Blend(item=0.0, playlist=0.0, embedding=1.0, popularity=0.0)
# The artifact arrays (``Artifact.arrays``) that hold the hybrid's neighbourhoods.
HYBRID_ARRAYS = ("neighbours", "neighbour_weights", "track_playlists_indptr", "track_playlists",
                 "playlist_tracks_indptr", "playlist_tracks")


@dataclass(frozen=True)
class Ranked:
    """A continuation: catalog rows best first, their blended scores, and for each the catalog
    row of the seed that contributed most (``because``; -1 for popular fill-ins)."""

    rows: np.ndarray
    scores: np.ndarray
    because: np.ndarray


class ContinuationRanker:
    """The hybrid over one catalog. Arrays are read-only and may be memory-mapped.

    ``neighbours``/``neighbour_weights``: tracks × M neighbour rows (-1 padded) and cosines;
    ``track_playlists_indptr``/``track_playlists``: the training playlists of each track (CSR);
    ``playlist_tracks_indptr``/``playlist_tracks``: the tracks of each training playlist (CSR);
    ``embeddings``: L2-normalised tracks × d; ``n_playlists``: training playlist count per track;
    ``song_codes``/``artist_codes``: integer codes of :func:`recsys.text.song_key` and of the artist;
    ``genre_codes`` (optional, -1 for none): a seed the model knows nothing about (no neighbours and
    a zero embedding: in no training playlist and without artist or album links) brings the
    popular tracks of its genre instead, so that it is still heard;
    ``nearest``: the embedding index's top-n search.
    """

    def __init__(self, *, neighbours, neighbour_weights, track_playlists_indptr, track_playlists,
                 playlist_tracks_indptr, playlist_tracks, embeddings, n_playlists, song_codes,
                 artist_codes, nearest: Nearest, blend: Blend = Blend(), genre_codes=None):
        self.neighbours = neighbours
        self.neighbour_weights = neighbour_weights
        self.track_playlists_indptr = np.asarray(track_playlists_indptr, dtype=np.int64)
        self.track_playlists = track_playlists
        self.playlist_tracks_indptr = np.asarray(playlist_tracks_indptr, dtype=np.int64)
        self.playlist_tracks = playlist_tracks
        self.embeddings = embeddings
        self.song_codes = np.asarray(song_codes)
        self.artist_codes = np.asarray(artist_codes)
        self.genre_codes = None if genre_codes is None else np.asarray(genre_codes)
        self.nearest = nearest
        self.blend = blend
        counts = np.asarray(n_playlists, dtype=np.float64)
        self.prior = np.log1p(counts) / max(np.log1p(counts.max()), 1e-12)
        self.popular_order = np.argsort(-counts, kind="stable")
        self.playlist_sizes = np.diff(self.playlist_tracks_indptr)

    @property
    def n_tracks(self) -> int:
        return len(self.song_codes)

    def rank(self, seed_rows: np.ndarray, k: int, *, banned: np.ndarray = np.empty(0, np.int64),
             allowed: np.ndarray | None = None, max_per_artist: int | None = None,
             allow_versions: bool = False) -> Ranked:
        """The ``k`` best continuations of the (non-empty) ``seed_rows``; never a seed or a row of
        ``banned``, only rows where ``allowed`` (a boolean mask) is true. Popular tracks fill the
        list when the signals find fewer than ``k`` candidates."""
        seeds = np.unique(np.asarray(seed_rows, dtype=np.int64))
        b = self.blend
        item_rows, item_values, item_seed = self._item_votes(seeds)
        playlist_rows, playlist_values, held_rows, held_values, held_seed = self._playlist_votes(seeds)
        query = seed_query(self.embeddings, seeds)
        # The embedding index is searched only where the neighbourhoods fall short (it is the
        # costliest step of a request): with the seeds' mean when they bring fewer candidates than
        # the list needs (always, for an embedding-only model), and with each seed that brings
        # none of its own, so that it is still heard.
        needed = 2 * k + len(seeds) + len(banned)
        quota = int(min(k, FIRST_PAGE) * b.seed_share) // len(seeds) if len(seeds) > 1 else 0
        quota = quota if quota >= MIN_SHARE else 0
        searches = []
        if len(np.unique(np.concatenate([item_rows, playlist_rows]))) < needed:
            searches.append(np.ravel(self.nearest(query, max(b.embedding_candidates, needed))[0]))
        alone = seeds[np.isin(np.arange(len(seeds)), item_seed, invert=True)] if quota else seeds[:0]
        if len(alone):
            searches.append(np.ravel(self.nearest(np.asarray(self.embeddings[alone], dtype=np.float32),
                                                  3 * quota + len(seeds))[0]))
        fallback_rows, fallback_seed = self._genre_fallback(seeds, alone, 3 * quota + len(seeds))
        near_rows = np.concatenate([*searches, fallback_rows]) if searches else fallback_rows
        near_rows = near_rows[near_rows >= 0]

        candidates, inverse = np.unique(np.concatenate([item_rows, playlist_rows, near_rows]),
                                        return_inverse=True)
        n_item, n_playlist = len(item_rows), len(playlist_rows)
        item = np.bincount(inverse[:n_item], item_values, minlength=len(candidates))
        playlist = np.bincount(inverse[n_item:n_item + n_playlist], playlist_values, minlength=len(candidates))
        vectors = np.asarray(self.embeddings[candidates], dtype=np.float32)
        to_seeds = vectors @ np.asarray(self.embeddings[seeds], dtype=np.float32).T   # candidates × seeds
        cosine = vectors @ query
        scores = (b.item * _scaled(item) + b.playlist * _scaled(playlist) + b.embedding * cosine
                  + b.popularity * self.prior[candidates])

        # Each candidate's seed: the one whose neighbour list, playlists and embedding bring it closest.
        affinity = b.embedding * to_seeds
        if n_item:
            np.add.at(affinity, (inverse[:n_item], item_seed), b.item * item_values / max(item.max(), 1e-12))
        if len(held_rows):
            np.add.at(affinity, (np.searchsorted(candidates, held_rows), held_seed),
                      b.playlist * held_values / max(playlist.max(), 1e-12))
        # Each seed's affinities scaled by its own best, so that a seed with weak similarities still
        # claims its nearest candidates (and its share of the first page) from a stronger seed.
        affinity /= np.maximum(affinity.max(axis=0, keepdims=True), 1e-12)
        affinity[np.searchsorted(candidates, fallback_rows), fallback_seed] = 1.0
        because = seeds[affinity.argmax(axis=1)]

        keep = ~np.isin(candidates, seeds) & ~np.isin(candidates, banned)
        if allowed is not None:
            keep &= allowed[candidates]
        if not allow_versions:
            keep &= ~np.isin(self.song_codes[candidates], self.song_codes[seeds])
        candidates, scores, because = candidates[keep], scores[keep], because[keep]
        order = np.argsort(-scores, kind="stable")
        candidates, scores, because = candidates[order], scores[order], because[order]

        ok = np.ones(len(candidates), dtype=bool)
        if not allow_versions:
            ok &= _first_of_group(self.song_codes[candidates])
        if max_per_artist is not None:
            ok &= _position_in_group(self.artist_codes[candidates]) < max_per_artist
        candidates, scores, because = candidates[ok], scores[ok], because[ok]

        chosen = _spread_over_seeds(because, k, quota)
        rows, scores, because = candidates[chosen], scores[chosen], because[chosen]
        if len(rows) < k:
            rows, scores, because = self._fill_popular(rows, scores, because, k, seeds, banned, allowed,
                                                       max_per_artist, allow_versions)
        return Ranked(rows, scores, because)

    def _genre_fallback(self, seeds: np.ndarray, alone: np.ndarray, n: int):
        """(rows, seed position): the ``n`` most popular tracks of the genre of each seed of
        ``alone`` whose embedding is zero (the model knows nothing about it)."""
        rows, owners = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
        if self.genre_codes is not None and len(alone) and n > 0:
            silent = alone[~np.asarray(self.embeddings[alone]).any(axis=1)]
            for seed in silent[self.genre_codes[silent] >= 0]:
                pool = self.popular_order[self.genre_codes[self.popular_order] == self.genre_codes[seed]]
                pool = pool[~np.isin(pool, seeds)][:n]
                rows.append(pool.astype(np.int64))
                owners.append(np.full(len(pool), np.searchsorted(seeds, seed), dtype=np.int64))
        return np.concatenate(rows), np.concatenate(owners)

    def _item_votes(self, seeds: np.ndarray):
        """(rows, values, seed position) of every valid entry of the seeds' neighbour lists."""
        b = self.blend
        rows = np.asarray(self.neighbours[seeds], dtype=np.int64)
        cosines = np.asarray(self.neighbour_weights[seeds], dtype=np.float64)
        reciprocal = b.rrf_offset / (b.rrf_offset + np.arange(1, rows.shape[1] + 1, dtype=np.float64))
        values = (1.0 - b.fusion) * cosines + b.fusion * reciprocal
        valid = rows >= 0
        seed_position = np.broadcast_to(np.arange(len(seeds))[:, None], rows.shape)
        return rows[valid], values[valid], seed_position[valid]

    def _playlist_votes(self, seeds: np.ndarray):
        """The tracks of the training playlists most similar to the seeds, each playlist voting
        cos(S, p)^power, cos(S, p) = |S ∩ p| / sqrt(|S|·|p|): ``(rows, values)``, and the same
        votes split over the seeds each playlist holds, ``(rows, values, seed position)``."""
        starts, stops = self.track_playlists_indptr[seeds], self.track_playlists_indptr[seeds + 1]
        if not (stops > starts).any():
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
        held = np.concatenate([self.track_playlists[a:z] for a, z in zip(starts, stops)])
        held_seed = np.repeat(np.arange(len(seeds)), stops - starts)
        playlists, overlap = np.unique(held, return_counts=True)
        cosine = overlap / np.sqrt(len(seeds) * np.maximum(self.playlist_sizes[playlists], 1))
        similarity = cosine ** self.blend.playlist_power
        if len(playlists) > self.blend.playlist_neighbours:
            top = np.argpartition(-similarity, self.blend.playlist_neighbours - 1)[:self.blend.playlist_neighbours]
            playlists, similarity, overlap = playlists[top], similarity[top], overlap[top]
        rows, values = self._tracks_of(playlists, similarity)
        # Per seed: each (seed, playlist) pair carries the playlist's vote over its seeds.
        order = np.argsort(playlists)
        chosen = np.isin(held, playlists)
        position = order[np.searchsorted(playlists[order], held[chosen])]
        seed_rows, seed_values = self._tracks_of(held[chosen], similarity[position] / overlap[position])
        seed_of = np.repeat(held_seed[chosen], np.diff(self.playlist_tracks_indptr)[held[chosen]])
        return rows, values, seed_rows, seed_values, seed_of

    def _tracks_of(self, playlists: np.ndarray, weights: np.ndarray):
        """(rows, values): every track of ``playlists``, each with its playlist's weight."""
        starts, stops = self.playlist_tracks_indptr[playlists], self.playlist_tracks_indptr[playlists + 1]
        if not len(playlists):
            return np.empty(0, np.int64), np.empty(0)
        rows = np.concatenate([self.playlist_tracks[a:z] for a, z in zip(starts, stops)]).astype(np.int64)
        return rows, np.repeat(weights, stops - starts)

    def _fill_popular(self, rows, scores, because, k, seeds, banned, allowed, cap, allow_versions):
        taken = np.concatenate([rows, seeds, np.asarray(banned, dtype=np.int64)])
        pool = self.popular_order[~np.isin(self.popular_order, taken)]
        if allowed is not None:
            pool = pool[allowed[pool]]
        if not allow_versions:
            pool = pool[~np.isin(self.song_codes[pool], self.song_codes[np.concatenate([rows, seeds])])]
            pool = pool[_first_of_group(self.song_codes[pool])]
        if cap is not None:
            used = np.bincount(self.artist_codes[rows], minlength=self.artist_codes.max() + 1)
            pool = pool[used[self.artist_codes[pool]] + _position_in_group(self.artist_codes[pool]) < cap]
        extra = pool[:k - len(rows)]
        floor = (scores.min() if len(scores) else 0.0) - 1.0
        return (np.concatenate([rows, extra]), np.concatenate([scores, floor - np.arange(len(extra)) * 1e-6]),
                np.concatenate([because, np.full(len(extra), -1, dtype=np.int64)]))


def song_codes(names, artists) -> np.ndarray:
    """One integer per track, equal for two versions of a song (:func:`recsys.text.song_key`)."""
    keys = pd.Series([song_key(name, artist) for name, artist in zip(names, artists)], dtype=object)
    return pd.factorize(keys)[0].astype(np.int32)


def _scaled(values: np.ndarray) -> np.ndarray:
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else values


def _position_in_group(groups: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements share its group (0 for the first)."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    position = np.empty(len(groups), dtype=np.int64)
    position[order] = np.arange(len(groups)) - run_start
    return position


def _first_of_group(groups: np.ndarray) -> np.ndarray:
    return _position_in_group(groups) == 0


def _spread_over_seeds(because: np.ndarray, k: int, quota: int) -> np.ndarray:
    """Positions of a ``k``-list from a ranked candidate list: the first page (FIRST_PAGE) holds
    each seed's ``quota`` best candidates and is filled by rank; the rest follows by rank."""
    if quota <= 0:
        return np.arange(min(k, len(because)))
    page = min(k, FIRST_PAGE)
    reserved = np.flatnonzero(_position_in_group(because) < quota)[:page]
    others = np.setdiff1d(np.arange(len(because)), reserved, assume_unique=True)
    first = np.sort(np.concatenate([reserved, others[:page - len(reserved)]]))
    rest = np.setdiff1d(np.arange(len(because)), first, assume_unique=True)[:k - len(first)]
    return np.concatenate([first, rest])
