"""The faiss inner-product index over an artifact's embeddings.

Exact search (``IndexFlatIP``) up to ``FLAT_MAX_ROWS`` tracks; above, an inverted-file index
(``IndexIVFFlat``: k-means cells, the ``nprobe`` nearest cells scanned exactly). Both figures
were measured by ``benchmarks/serving.py`` (docs/serving.md). A built IVF index is cached in
``<artifact>/.index-cache/`` under the embeddings' sha256, so a changed artifact never reuses a
stale index, with a digest sidecar; a cache that fails its digest or does not fit the artifact
(kind, metric, rows, dimension, cells) is rebuilt. The flat index is a plain copy, not cached.

Searching is read-only and safe from many threads at once. Each search runs on
``SEARCH_THREADS`` OpenMP threads; ``omp_set_num_threads`` only affects the calling thread.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from recsys.files import cache_file_intact, write_cache_file

# Exact search streams every vector per query; at 64 dims this stays under ~1 ms up to here.
FLAT_MAX_ROWS = 50_000
# One thread per query: a single query has no parallelism to offer faiss, and Streamlit runs
# sessions on threads already (benchmarks/serving.py measures 1 vs 2).
SEARCH_THREADS = 1
# nprobe for IVF: recall@100 >= 0.97 against exact search on clustered data at 2.26M tracks.
DEFAULT_NPROBE = 64
# faiss warns below 39 training points per cell; k-means cost grows with both.
TRAIN_SAMPLES_PER_CELL = 40
KMEANS_ITERATIONS = 10
CACHE_DIR = ".index-cache"


def ivf_cells(n_rows: int) -> int:
    """Number of IVF cells: ~2·sqrt(n) as a power of two (4096 at 2.26M). The common 4·sqrt(n)
    doubles k-means time for no recall gain at a measured nprobe, and the build must stay < 5 min."""
    return int(2 ** round(np.log2(2 * np.sqrt(max(n_rows, 1)))))


@dataclass(frozen=True)
class SearchResult:
    rows: np.ndarray    # (k,) or (queries, k) int64 catalog rows, best first; -1 pads when fewer exist
    scores: np.ndarray  # the same shape, float32 inner products


class VectorIndex:
    """Top-k inner-product search over L2-normalised embeddings (so scores are cosines)."""

    def __init__(self, index: faiss.Index, nprobe: int | None = None):
        self._index = index
        self.nprobe = nprobe
        self._params = faiss.SearchParametersIVF(nprobe=nprobe) if nprobe else None

    @property
    def kind(self) -> str:
        return "ivf" if self.nprobe else "flat"

    @property
    def ntotal(self) -> int:
        return self._index.ntotal

    @property
    def nlist(self) -> int | None:
        """Cells of an IVF index; None for an exact one."""
        return self._index.nlist if self.nprobe else None

    def with_nprobe(self, nprobe: int) -> "VectorIndex":
        """The same index (shared, not copied) searched over ``nprobe`` cells."""
        return VectorIndex(self._index, nprobe)

    @classmethod
    def build(cls, embeddings: np.ndarray, *, cache_dir: str | os.PathLike | None = None,
              checksum: str | None = None, flat_max_rows: int = FLAT_MAX_ROWS,
              nprobe: int = DEFAULT_NPROBE, seed: int = 0) -> "VectorIndex":
        """Exact index for small catalogs; IVF above ``flat_max_rows``, loaded from
        ``cache_dir/ivf-<checksum>.faiss`` when present, else trained and saved there."""
        n_rows = len(embeddings)
        if n_rows <= flat_max_rows:
            index = faiss.IndexFlatIP(embeddings.shape[1])
            _add_in_chunks(index, embeddings)
            return cls(index)
        cells = ivf_cells(n_rows)
        cached = Path(cache_dir) / f"ivf{cells}-{checksum}.faiss" if cache_dir and checksum else None
        if cached is not None:
            index = _read_cached(cached, n_rows, embeddings.shape[1], cells)
            if index is not None:
                return cls(index, nprobe)
        index = _train_ivf(embeddings, cells, seed)
        if cached is not None:
            try:
                write_cache_file(cached, lambda f: f.write(faiss.serialize_index(index)), replaces="ivf*.faiss")
            except OSError as exc:  # a read-only deployment still serves, it just rebuilds next time
                warnings.warn(f"{cached}: index not cached ({exc})", stacklevel=2)
        return cls(index, nprobe)

    def search(self, query: np.ndarray, k: int) -> SearchResult:
        """The ``k`` rows with the largest inner product with ``query``: one vector (rows and
        scores of shape (k,)) or a matrix of them, searched in one call (shape (m, k))."""
        faiss.omp_set_num_threads(SEARCH_THREADS)
        single = np.ndim(query) == 1
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1, self._index.d)
        k = min(k, self.ntotal)
        params = self._params
        if self.nprobe and k * self._index.nlist > self.nprobe * self.ntotal // 2:
            # A large k needs more cells than nprobe scans (cells hold ntotal/nlist rows on average).
            params = faiss.SearchParametersIVF(nprobe=min(self._index.nlist, 2 * k * self._index.nlist // self.ntotal + 1))
        scores, rows = self._index.search(query, k, params=params)
        rows = rows.astype(np.int64)
        return SearchResult(rows[0], scores[0]) if single else SearchResult(rows, scores)


def _add_in_chunks(index: faiss.Index, embeddings: np.ndarray, chunk: int = 262_144) -> None:
    # Embeddings may be a float16 memmap: convert a slice at a time, never the whole matrix.
    for start in range(0, len(embeddings), chunk):
        index.add(np.ascontiguousarray(embeddings[start:start + chunk], dtype=np.float32))


def _train_ivf(embeddings: np.ndarray, cells: int, seed: int) -> faiss.Index:
    dim = embeddings.shape[1]
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    n_train = min(len(embeddings), cells * TRAIN_SAMPLES_PER_CELL)
    sample = np.sort(rng.choice(len(embeddings), size=n_train, replace=False))
    index.cp.seed = seed
    index.cp.niter = KMEANS_ITERATIONS  # faiss's 25 buys little cell quality for 2.5x the time
    index.train(np.ascontiguousarray(embeddings[sample], dtype=np.float32))
    _add_in_chunks(index, embeddings)
    return index


def _read_cached(path: Path, n_rows: int, dim: int, cells: int) -> faiss.Index | None:
    """The cached IVF index when its file is intact (sidecar digest) and it is the index this
    artifact needs (kind, metric, shape, cells); None on any doubt, and the caller rebuilds."""
    if not cache_file_intact(path):
        return None
    try:
        index = faiss.read_index(str(path))  # already of its concrete class
    except RuntimeError:
        return None
    if (isinstance(index, faiss.IndexIVFFlat) and index.is_trained and index.ntotal == n_rows
            and index.d == dim and index.nlist == cells and index.metric_type == faiss.METRIC_INNER_PRODUCT):
        return index
    return None
