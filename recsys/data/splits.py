"""Playlist-continuation splits in the style of the RecSys Challenge 2018.

Two splits, both holding out whole playlists (validation and test from disjoint sets):

- :func:`standard_split`, the headline protocol: a held-out playlist's first half (by ``pos``)
  are its seeds, the second half its targets. Models train on every other playlist plus the
  seeds; the candidate catalog is the tracks the training interactions hold, so a target no
  training playlist holds can never be found and counts as a miss.
- :func:`continuation_split`, the "cold-track" view: the first ``n_seed`` tracks are the seeds
  and every track stays a candidate, so a model gets credit for reaching tracks no training
  playlist holds (through their artist and album).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.errors import RecsysError


class SplitError(RecsysError):
    """The dataset cannot provide the requested split (too few long-enough playlists)."""


@dataclass(frozen=True)
class Query:
    """One held-out playlist: its index, seed track_idx (in playlist order) and target track_idx."""
    playlist_idx: int
    seeds: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class Split:
    """``train``: the interactions (``playlist_idx, track_idx, pos``) a model may see;
    ``val`` / ``test``: the held-out queries; and the parameters that made the split."""
    train: pd.DataFrame
    val: list[Query]
    test: list[Query]
    n_seed: int | str
    seed: int
    # Boolean mask over track_idx of the tracks a model may recommend; None: every track.
    catalog: np.ndarray | None = None
    protocol: str = "cold-track"

    def describe(self) -> dict:
        """The split's parameters and sizes, for reports."""
        info = {"protocol": self.protocol, "n_seed": self.n_seed, "seed": self.seed, "n_val": len(self.val),
                "n_test": len(self.test), "train_interactions": len(self.train),
                "mean_targets_test": float(np.mean([len(q.targets) for q in self.test])) if self.test else 0.0}
        if self.catalog is not None:
            targets = np.concatenate([q.targets for q in self.test]) if self.test else np.array([], int)
            info.update(catalog_tracks=int(self.catalog.sum()),
                        test_targets_in_catalog=float(self.catalog[targets].mean()) if len(targets) else 0.0)
        return info


def standard_split(dataset: Dataset, n_test: int = 100, n_val: int = 50, seed: int = 0,
                   min_tracks: int = 10) -> Split:
    """The headline protocol: ``n_test`` + ``n_val`` playlists with at least ``min_tracks``
    tracks, drawn at random by ``seed``; seeds are the first half of each by ``pos``, targets
    the rest. ``train`` is every other playlist plus the held-out seeds; ``catalog`` marks the
    tracks ``train`` holds. Raises :class:`SplitError` when too few playlists are eligible."""
    if min_tracks < 2 or n_test < 0 or n_val < 0:
        raise SplitError(f"standard_split needs min_tracks >= 2 and n_test/n_val >= 0 "
                         f"(got min_tracks={min_tracks}, n_test={n_test}, n_val={n_val})")
    interactions = dataset.interactions.sort_values(["playlist_idx", "pos"], kind="stable")
    lengths = np.bincount(interactions["playlist_idx"], minlength=dataset.n_playlists)
    chosen = _draw_playlists(dataset, lengths, n_test + n_val, min_tracks, seed)
    rank_in_playlist = interactions.groupby("playlist_idx", sort=False).cumcount().to_numpy()
    playlist = interactions["playlist_idx"].to_numpy()
    held_out = np.isin(playlist, chosen)
    is_target = held_out & (rank_in_playlist >= lengths[playlist] // 2)
    train = interactions.loc[~is_target].reset_index(drop=True)
    catalog = np.zeros(dataset.n_tracks, dtype=bool)
    catalog[train["track_idx"].to_numpy()] = True
    seeds_of = _tracks_by_playlist(interactions.loc[held_out & ~is_target])
    targets_of = _tracks_by_playlist(interactions.loc[is_target])

    def queries(playlists: np.ndarray) -> list[Query]:
        return [Query(int(p), seeds_of[int(p)], targets_of[int(p)]) for p in np.sort(playlists)]

    return Split(train=train, val=queries(chosen[n_test:]), test=queries(chosen[:n_test]),
                 n_seed="half", seed=seed, catalog=catalog, protocol="standard")


def _draw_playlists(dataset: Dataset, lengths: np.ndarray, n: int, min_tracks: int, seed: int) -> np.ndarray:
    eligible = np.flatnonzero(lengths >= min_tracks)
    if len(eligible) < n:
        raise SplitError(f"dataset {dataset.name!r}: only {len(eligible)} playlists have at least "
                         f"{min_tracks} tracks; asked for {n} held-out playlists")
    return np.random.default_rng(seed).permutation(eligible)[:n]


def _tracks_by_playlist(interactions: pd.DataFrame) -> dict[int, np.ndarray]:
    return {int(p): group.to_numpy(np.int64)
            for p, group in interactions.groupby("playlist_idx", sort=False)["track_idx"]}


def continuation_split(dataset: Dataset, n_test: int = 100, n_val: int = 50, n_seed: int = 10,
                       seed: int = 0, min_targets: int = 5) -> Split:
    """Hold out ``n_test`` + ``n_val`` playlists chosen at random (by ``seed``) among those with
    at least ``n_seed + min_targets`` tracks.

    ``min_targets`` keeps playlists with one or two held-out tracks out of the queries: with so
    few targets R-precision is an all-or-nothing coin toss. Raises :class:`SplitError` when fewer
    playlists are eligible than asked for.
    """
    if n_seed < 1 or min_targets < 1 or n_test < 0 or n_val < 0:
        raise SplitError(f"continuation_split needs n_seed >= 1, min_targets >= 1, n_test/n_val >= 0 "
                         f"(got n_seed={n_seed}, min_targets={min_targets}, n_test={n_test}, n_val={n_val})")
    interactions = dataset.interactions.sort_values(["playlist_idx", "pos"], kind="stable")
    lengths = np.bincount(interactions["playlist_idx"], minlength=dataset.n_playlists)
    eligible = np.flatnonzero(lengths >= n_seed + min_targets)
    if len(eligible) < n_test + n_val:
        raise SplitError(
            f"dataset {dataset.name!r}: only {len(eligible)} playlists have at least "
            f"{n_seed + min_targets} tracks (n_seed={n_seed} + min_targets={min_targets}); "
            f"asked for n_test={n_test} + n_val={n_val}")
    chosen = np.random.default_rng(seed).permutation(eligible)[:n_test + n_val]
    test_playlists, val_playlists = np.sort(chosen[:n_test]), np.sort(chosen[n_test:])

    rank_in_playlist = interactions.groupby("playlist_idx", sort=False).cumcount().to_numpy()
    held_out = interactions["playlist_idx"].isin(chosen).to_numpy()
    is_target = held_out & (rank_in_playlist >= n_seed)
    tracks_by_playlist = {
        int(p): group for p, group in
        interactions.loc[held_out, ["playlist_idx", "track_idx"]].groupby("playlist_idx", sort=False)["track_idx"]
    }

    def queries(playlists: np.ndarray) -> list[Query]:
        out = []
        for p in playlists:
            track_idx = tracks_by_playlist[int(p)].to_numpy(np.int64)
            out.append(Query(int(p), track_idx[:n_seed], track_idx[n_seed:]))
        return out

    return Split(train=interactions.loc[~is_target].reset_index(drop=True),
                 val=queries(val_playlists), test=queries(test_playlists), n_seed=n_seed, seed=seed)
