"""2-D coordinates for every track, computed offline when an artifact is published.

t-SNE (openTSNE's FFT-accelerated gradients over an exact faiss kNN graph) keeps each track's neighbourhood,
which is what the neighbourhood explorer shows; PCA only keeps the largest directions and piles
unrelated tracks on top of each other. openTSNE is a training requirement, imported inside
``project`` so serving never needs it.
"""
from __future__ import annotations

import numpy as np

from recsys.scoring import l2_normalize

# Below this many tracks t-SNE's perplexity has too few neighbours to mean anything: use PCA.
MIN_TSNE_TRACKS = 50


def project(embeddings: np.ndarray, *, seed: int = 0, n_jobs: int = 2,
            n_iter: int = 200, early_exaggeration_iter: int = 100) -> np.ndarray:
    """(n × 2) float32 map of the rows of ``embeddings`` (cosine geometry: rows are normalised).

    Input is reduced to at most 50 principal components first (standard for t-SNE: cheaper
    neighbour search, little change to the neighbourhoods). Deterministic for a given ``seed``.
    The iteration counts are well below openTSNE's defaults (250 + 500): 30k tracks × 64 must
    map in under 30 s on 2 cores, and neighbourhoods (what the explorer shows) are formed long
    before the KL divergence stops creeping down.
    """
    vectors = l2_normalize(np.asarray(embeddings, dtype=np.float32))
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    reduced = _pca(vectors, min(50, vectors.shape[1]))
    if n < MIN_TSNE_TRACKS:
        return _pad_columns(reduced[:, :2]).astype(np.float32)
    from openTSNE import TSNE
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.initialization import pca as pca_initialization
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    perplexity = min(30.0, (n - 1) / 3)
    neighbors, distances = _exact_knn(reduced, k=min(n - 1, int(3 * perplexity)))
    affinities = PerplexityBasedNN(knn_index=PrecomputedNeighbors(neighbors, distances),
                                   perplexity=perplexity, n_jobs=n_jobs, random_state=seed)
    tsne = TSNE(n_iter=n_iter, early_exaggeration_iter=early_exaggeration_iter,
                n_jobs=n_jobs, random_state=seed, verbose=False)
    layout = tsne.fit(affinities=affinities,
                      initialization=pca_initialization(reduced, random_state=seed))
    return np.asarray(layout, dtype=np.float32)


def _exact_knn(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each point's k nearest other points (indices, euclidean distances) by faiss brute force:
    a few seconds for 30k points, where openTSNE's default Annoy search takes ~10 s."""
    import faiss

    points = np.ascontiguousarray(points, dtype=np.float32)
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(points)
    squared, neighbors = index.search(points, k + 1)
    # Column 0 is normally the point itself; drop self wherever it landed.
    rows = np.arange(len(points))[:, None]
    not_self = neighbors != rows
    keep = np.argsort(~not_self, axis=1, kind="stable")[:, :k]
    neighbors = np.take_along_axis(neighbors, keep, axis=1)
    distances = np.sqrt(np.maximum(np.take_along_axis(squared, keep, axis=1), 0))
    return neighbors.astype(np.int64), distances.astype(np.float64)


def _pca(matrix: np.ndarray, n_components: int) -> np.ndarray:
    centred = matrix - matrix.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:n_components]
    # Fix each component's sign so the same input always gives the same picture.
    components *= np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])[:, None]
    return centred @ components.T


def _pad_columns(matrix: np.ndarray) -> np.ndarray:
    """Tiny inputs may have fewer than two components; pad with zeros."""
    if matrix.shape[1] >= 2:
        return matrix
    return np.hstack([matrix, np.zeros((len(matrix), 2 - matrix.shape[1]), dtype=matrix.dtype)])
