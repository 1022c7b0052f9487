"""``Recommender``: playlist continuation, similar tracks, popular tracks, search and external
matching over one published artifact. numpy + pandas + faiss + rapidfuzz; never torch."""
from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import paths
from recsys.artifacts import Artifact, ArtifactError, default_model, load_artifact
from recsys.errors import RecsysError
from recsys.scoring import l2_normalize
from recsys.serving.continuation import EMBEDDING_ONLY, HYBRID_ARRAYS, Blend, ContinuationRanker, song_codes
from recsys.serving.index import CACHE_DIR, DEFAULT_NPROBE, FLAT_MAX_ROWS, VectorIndex
from recsys.serving.matching import CatalogMatcher, ExternalMatch
from recsys.serving.search import TrackSearch

MAX_K = 1000
# A search query longer than this is refused: a name and an artist fit, and the trigram and
# fuzzy passes cost time in proportion (a 1 MB query took 7-11 s).
MAX_QUERY_CHARS = 200
# MMR re-ranks this many of the best tracks per requested one (never fewer than MMR_MIN_POOL, never
# more than MMR_MAX_POOL: MMR costs k passes over the pool, and k=1000 over 5,000 took seconds).
MMR_POOL_FACTOR = 5
MMR_MIN_POOL = 100
MMR_MAX_POOL = 2000
TRACK_COLUMNS = ["track_id", "name", "artist", "album"]


class RecommendError(RecsysError):
    """A malformed request (k out of range, ids that are not strings...); the message says which."""


@dataclass(frozen=True, eq=False)
class Recommendations:
    """The answer to ``Recommender.recommend``.

    ``table`` (a DataFrame, built on first access): rank, track_id, name, artist, album, score,
    because, because_name. ``score`` is the blended score of :mod:`recsys.serving.continuation`
    (for an embedding-only model, the cosine similarity to the seeds' mean embedding);
    ``because`` is the seed (id, and name in ``because_name``) that contributed most to the
    recommended track. ``unknown_seeds`` lists seed ids not in the catalog. ``fallback`` is ``"popular"``
    when no seed was known and the result holds the most-played tracks instead (then ``score``
    is the playlist count and ``because`` is empty). ``rows`` and ``scores`` are the same
    answer as arrays, for callers that need no DataFrame.
    """

    rows: np.ndarray
    scores: np.ndarray
    because_rows: np.ndarray | None
    unknown_seeds: list[str]
    fallback: str | None
    _catalog_text: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def track_ids(self) -> list[str]:
        return self._catalog_text["track_id"][self.rows].tolist()

    @cached_property
    def table(self) -> pd.DataFrame:
        # Built lazily: pandas needs ~0.2-0.4 ms for it, more than the index search itself.
        return _track_table(self._catalog_text, self.rows, self.scores, self.because_rows, explain=True)


class Recommender:
    """Serves one artifact. Build it once (``Recommender.load``) and share it: every method is
    safe to call from many threads at once.

    >>> rec = Recommender.load("lightgcn")                     # the model's current version
    >>> rec.recommend(["spotify:track:..."], k=20, max_per_artist=2, diversity=0.3).table
    """

    def __init__(self, artifact: Artifact, *, flat_max_rows: int = FLAT_MAX_ROWS,
                 nprobe: int = DEFAULT_NPROBE):
        self.artifact = artifact
        self.catalog = artifact.catalog
        self.embeddings = artifact.embeddings
        # Plain object arrays and a dict: per-request lookups and row gathers cost microseconds,
        # where the Arrow-backed catalog columns cost ~30-100 µs per call.
        self._text = {col: self.catalog[col].to_numpy(dtype=object) for col in TRACK_COLUMNS}
        self._row_of = {track_id: row for row, track_id in enumerate(self._text["track_id"])}
        self._artist_codes = pd.factorize(self.catalog["artist_id"])[0]
        tie_break = (self.catalog["popularity"].fillna(0).to_numpy(float)
                     if "popularity" in self.catalog else np.zeros(len(self.catalog)))
        self._n_playlists = self.catalog["n_playlists"].to_numpy()
        self._popular_order = np.lexsort((-tie_break, -self._n_playlists))
        self.index = VectorIndex.build(self.embeddings, cache_dir=artifact.path / CACHE_DIR,
                                       checksum=artifact.embeddings_sha256,
                                       flat_max_rows=flat_max_rows, nprobe=nprobe)
        self.ranker = _ranker(artifact, self.index, self._artist_codes)
        self._matcher = CatalogMatcher(self.catalog, self._row_of)
        self._search: TrackSearch | None = None
        self._search_lock = threading.Lock()

    @classmethod
    def load(cls, path_or_model: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None,
             **index_options) -> "Recommender":
        """An artifact directory, or a model name (its current version); ``None`` means the
        default model named in ``models_dir/DEFAULT``. ``models_dir`` defaults to
        ``recsys.paths.models_dir()``."""
        models_dir = paths.models_dir() if models_dir is None else models_dir
        if path_or_model is None:
            path_or_model = default_model(models_dir)
            if path_or_model is None:
                raise ArtifactError(f"{Path(models_dir) / 'DEFAULT'}: no default model set "
                                    "(python -m recsys artifacts default MODEL)")
        return cls(load_artifact(path_or_model, models_dir), **index_options)

    @property
    def model(self) -> str:
        return self.artifact.model

    @property
    def version(self) -> str:
        return self.artifact.version

    def catalog_rows(self, track_ids: Iterable[str]) -> np.ndarray:
        """Catalog (and embedding) rows of ``track_ids``, in order; -1 for ids not in the catalog."""
        return np.fromiter((self._row_of.get(t, -1) for t in track_ids), dtype=np.int64)

    # ---------------------------------------------------------------- recommendations

    def recommend(self, seed_track_ids: Iterable[str], k: int = 20, exclude: Iterable[str] = (),
                  max_per_artist: int | None = None, diversity: float = 0.0,
                  allow_versions: bool = False) -> Recommendations:
        """The ``k`` tracks that best continue a playlist of ``seed_track_ids``.

        Seeds and ``exclude`` are never returned, nor (unless ``allow_versions``) another version
        of a seed or a second version of one song (:func:`recsys.text.song_key`). Every seed is
        heard: part of the list is spread over the seeds (:mod:`recsys.serving.continuation`).
        ``max_per_artist`` caps tracks per artist; ``diversity`` in [0, 1] re-ranks by maximal
        marginal relevance (0: pure relevance, 1: pure novelty w.r.t. the tracks already chosen).
        Unknown seeds are reported in ``unknown_seeds``; with no known seed the result is the
        flagged popular fallback.
        """
        k = _check_count(k, "k")
        seeds = _check_ids(seed_track_ids, "seed_track_ids")
        banned_ids = _check_ids(exclude, "exclude")
        cap = None if max_per_artist is None else _check_count(max_per_artist, "max_per_artist", limit=None)
        diversity = _check_diversity(diversity)

        seed_rows, unknown = self._rows(seeds)
        banned = np.union1d(seed_rows, self._rows(banned_ids)[0])
        if len(seed_rows) == 0:
            rows = self._most_popular(k, banned, cap)
            return Recommendations(rows, self._n_playlists[rows].astype(np.float64), None, unknown,
                                   "popular", self._text)

        pool = k if diversity == 0 else min(max(MMR_MIN_POOL, MMR_POOL_FACTOR * k), max(k, MMR_MAX_POOL))
        ranked = self.ranker.rank(seed_rows, pool, banned=banned, max_per_artist=None if diversity else cap,
                                  allow_versions=allow_versions)
        rows, scores, because = ranked.rows, ranked.scores, ranked.because
        if diversity and len(rows):
            relevance = (scores - scores.min()) / max(float(scores.max() - scores.min()), 1e-12)
            keep = _mmr(self._vectors(rows), relevance, k, diversity, self._artist_codes[rows], cap)
            rows, scores, because = rows[keep], scores[keep], because[keep]
        return Recommendations(rows, scores, because, unknown, None, self._text)

    def similar(self, track_id: str, k: int = 20) -> pd.DataFrame:
        """A track's ``k`` nearest neighbours: rank, track_id, name, artist, album, score (cosine)."""
        k = _check_count(k, "k")
        rows, unknown = self._rows(_check_ids([track_id], "track_id"))
        if unknown:
            raise RecommendError(f"track_id {track_id!r} is not in the catalog of {self.model}/{self.version}")
        query = l2_normalize(np.asarray(self.embeddings[rows[0]], dtype=np.float32))
        rows, scores = self._nearest(query, k, rows, None)
        return _track_table(self._text, rows[:k], scores[:k])

    def popular(self, k: int = 20, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """The ``k`` tracks in most playlists: rank, track_id, name, artist, album, n_playlists."""
        k = _check_count(k, "k")
        rows = self._most_popular(k, self._rows(_check_ids(exclude, "exclude"))[0], None)
        table = _track_table(self._text, rows, None)
        table["n_playlists"] = self._n_playlists[rows]
        return table

    # ---------------------------------------------------------------- search and matching

    def search(self, query: str, limit: int = 20) -> pd.DataFrame:
        """Tracks by name and/or artist, best first (see recsys.serving.search): rank, track_id,
        name, artist, album, n_playlists, score (0..100)."""
        if not isinstance(query, str):
            raise RecommendError(f"search query must be a string, got {type(query).__name__}: {query!r}")
        if len(query) > MAX_QUERY_CHARS:
            raise RecommendError(f"search query is {len(query):,} characters long; at most "
                                 f"{MAX_QUERY_CHARS} are searched (a track name and an artist)")
        surrogate = next((c for c in query if "\ud800" <= c <= "\udfff"), None)
        if surrogate is not None:
            raise RecommendError(f"search query holds a lone surrogate (U+{ord(surrogate):04X} at "
                                 f"position {query.index(surrogate)}), which is not text; "
                                 "send it as valid UTF-8")
        limit = _check_count(limit, "limit")
        rows, scores = self._track_search().search(query, limit)
        table = _track_table(self._text, rows, scores)
        table.insert(5, "n_playlists", self._n_playlists[rows])
        return table

    def match_external(self, tracks: pd.DataFrame | Iterable[Mapping]) -> ExternalMatch:
        """Map outside tracks onto the catalog: Spotify id/URI first, then name + artist."""
        return self._matcher.match(tracks)

    def _track_search(self) -> TrackSearch:
        with self._search_lock:
            if self._search is None:
                self._search = TrackSearch.build(
                    self.catalog["name"].to_numpy(), self.catalog["artist"].to_numpy(), self._n_playlists,
                    cache_dir=self.artifact.path / CACHE_DIR,
                    checksum=self.artifact.manifest["files"]["tracks.parquet"]["sha256"])
            return self._search

    # ---------------------------------------------------------------- internals

    def _rows(self, track_ids: list[str]) -> tuple[np.ndarray, list[str]]:
        """Catalog rows of the known ids (unique, sorted) and the unknown ids (input order)."""
        found = [self._row_of.get(t, -1) for t in track_ids]
        unknown = [t for t, row in zip(track_ids, found) if row < 0]
        return np.unique(np.asarray([r for r in found if r >= 0], dtype=np.int64)), unknown

    def _vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.embeddings[rows], dtype=np.float32)

    def _nearest(self, query: np.ndarray, want: int, banned: np.ndarray,
                 cap: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The nearest rows not in ``banned``, at least ``want`` of them within the artist cap
        when the catalog has them: asks the index for more until enough survive the filters."""
        fetch = want + len(banned)
        while True:
            found = self.index.search(query, fetch)
            valid = (found.rows >= 0) & ~np.isin(found.rows, banned)
            rows, scores = found.rows[valid], found.scores[valid]
            if len(self._select(rows, want, cap)) >= want or fetch >= self.index.ntotal:
                return rows, scores
            fetch = min(self.index.ntotal, fetch * 4)

    def _most_popular(self, k: int, banned: np.ndarray, cap: int | None) -> np.ndarray:
        prefix = k + len(banned)
        while True:
            candidates = self._popular_order[:prefix]
            candidates = candidates[~np.isin(candidates, banned)]
            keep = self._select(candidates, k, cap)
            if len(keep) == k or prefix >= len(self._popular_order):
                return candidates[keep]
            prefix *= 4

    def _select(self, rows: np.ndarray, k: int, cap: int | None) -> np.ndarray:
        """Positions of the first ``k`` of ``rows`` whose artist has fewer than ``cap`` earlier ones."""
        if cap is None:
            return np.arange(min(k, len(rows)))
        taken, per_artist = [], {}
        for position, artist in enumerate(self._artist_codes[rows].tolist()):
            if per_artist.get(artist, 0) < cap:
                per_artist[artist] = per_artist.get(artist, 0) + 1
                taken.append(position)
                if len(taken) == k:
                    break
        return np.asarray(taken, dtype=np.int64)


def _track_table(text: Mapping[str, np.ndarray], rows: np.ndarray, scores: np.ndarray | None,
                 because: np.ndarray | None = None, explain: bool = False) -> pd.DataFrame:
    """rank, TRACK_COLUMNS[, score][, because, because_name (``explain``): the catalog rows in
    ``because``, or empty when it is None]."""
    columns = {col: text[col][rows] for col in TRACK_COLUMNS}
    if explain:
        empty = np.full(len(rows), None, dtype=object)
        columns["because"] = empty if because is None else text["track_id"][because]
        columns["because_name"] = empty if because is None else text["name"][because]
    # One object block: per-column string arrays cost ~3x more per request.
    table = pd.DataFrame(np.column_stack(list(columns.values())) if len(rows) else None,
                         columns=pd.Index(list(columns), dtype=object), dtype=object)
    table.insert(0, "rank", np.arange(1, len(rows) + 1))
    if scores is not None:
        table.insert(len(TRACK_COLUMNS) + 1, "score", np.asarray(scores, dtype=np.float64))
    return table


def _ranker(artifact: Artifact, index: VectorIndex, artist_codes: np.ndarray) -> ContinuationRanker:
    """The artifact's continuation ranker: the hybrid when it carries neighbourhoods, else its
    embeddings alone (a GNN artifact), with the same list-building rules."""
    arrays = artifact.arrays
    catalog = artifact.catalog
    # Artifacts published before song codes were stored derive them here (~10 µs a track).
    songs = arrays["song_codes"] if "song_codes" in arrays else song_codes(catalog["name"], catalog["artist"])
    # The hybrid's popularity prior counts training playlists, as it did when it was measured.
    counts = arrays["n_playlists"] if "n_playlists" in arrays else catalog["n_playlists"].to_numpy()
    if all(name in arrays for name in HYBRID_ARRAYS):
        parts = {name: arrays[name] for name in HYBRID_ARRAYS}
        blend = Blend.from_dict(artifact.manifest.get("config", {}).get("blend", {}))
    else:
        empty = np.zeros(0, dtype=np.int32)
        parts = dict(neighbours=np.full((len(catalog), 0), -1, dtype=np.int32),
                     neighbour_weights=np.zeros((len(catalog), 0), dtype=np.float16),
                     track_playlists_indptr=np.zeros(len(catalog) + 1, dtype=np.int64), track_playlists=empty,
                     playlist_tracks_indptr=np.zeros(1, dtype=np.int64), playlist_tracks=empty)
        blend = EMBEDDING_ONLY

    def nearest(query: np.ndarray, n: int):
        found = index.search(query, n)
        return found.rows, found.scores

    genres = pd.factorize(catalog["genre"])[0] if "genre" in catalog else None
    return ContinuationRanker(**parts, embeddings=artifact.embeddings, n_playlists=counts,
                              song_codes=songs, artist_codes=artist_codes, nearest=nearest, blend=blend,
                              genre_codes=genres)


def _mmr(vectors: np.ndarray, relevance: np.ndarray, k: int, diversity: float,
         artists: np.ndarray, cap: int | None) -> np.ndarray:
    """Maximal marginal relevance: repeatedly take the candidate maximising
    (1 − diversity)·relevance − diversity·(max similarity to those already taken)."""
    available = np.ones(len(relevance), dtype=bool)
    max_similarity = np.zeros(len(relevance), dtype=np.float32)
    per_artist: dict[int, int] = {}
    chosen = []
    while len(chosen) < k and available.any():
        gain = (1 - diversity) * relevance - diversity * max_similarity
        best = int(np.argmax(np.where(available, gain, -np.inf)))
        chosen.append(best)
        available[best] = False
        np.maximum(max_similarity, vectors @ vectors[best], out=max_similarity)
        if cap is not None:
            artist = int(artists[best])
            per_artist[artist] = per_artist.get(artist, 0) + 1
            if per_artist[artist] >= cap:
                available &= artists != artist
    return np.asarray(chosen, dtype=np.int64)


def _check_count(value, what: str, limit: int | None = MAX_K) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise RecommendError(f"{what} must be an integer, got {type(value).__name__}: {value!r}")
    if value < 1 or (limit is not None and value > limit):
        bound = f"between 1 and {limit}" if limit is not None else "at least 1"
        raise RecommendError(f"{what} must be {bound}, got {value}")
    return int(value)


def _check_diversity(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise RecommendError(f"diversity must be a number between 0 and 1, got {value!r}")
    return float(value)


def _check_ids(values, what: str) -> list[str]:
    if isinstance(values, (str, bytes)):
        raise RecommendError(f"{what} must be a list of track ids, not a single string: {values!r}")
    try:
        values = list(values)
    except TypeError:
        raise RecommendError(f"{what} must be a list of track ids, got {type(values).__name__}") from None
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise RecommendError(f"{what}[{position}] must be a track id string, "
                                 f"got {type(value).__name__}: {value!r}")
    return list(dict.fromkeys(values))
