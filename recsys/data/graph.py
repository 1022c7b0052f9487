"""The playlist–track graph as scipy sparse matrices (numpy + scipy only, no torch).

Node layout of every adjacency built here: playlists ``0..P-1``, then tracks ``P..P+T-1``, then
each side block's nodes (artists, albums, ...) in the order the blocks are given.

On real playlist data most tracks sit in a single playlist, so the playlist–track graph alone
says little about them; the artist and album nodes of :func:`side_blocks` link such a track to
the rest of the catalog.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset


def interaction_matrix(interactions: Dataset | pd.DataFrame, n_playlists: int | None = None,
                       n_tracks: int | None = None) -> sp.csr_matrix:
    """Playlists × tracks binary float32 CSR matrix of ``interactions`` (columns ``playlist_idx,
    track_idx``; a :class:`Dataset` gives its interactions and its counts).

    The shape is ``(n_playlists, n_tracks)``, so playlists or tracks without any interaction keep
    their rows/columns (a split's train set has the full dataset's shape). Repeats count once.
    """
    if isinstance(interactions, Dataset):
        n_playlists = interactions.n_playlists if n_playlists is None else n_playlists
        n_tracks = interactions.n_tracks if n_tracks is None else n_tracks
        interactions = interactions.interactions
    rows = interactions["playlist_idx"].to_numpy(np.int64)
    cols = interactions["track_idx"].to_numpy(np.int64)
    n_playlists = int(rows.max(initial=-1)) + 1 if n_playlists is None else n_playlists
    n_tracks = int(cols.max(initial=-1)) + 1 if n_tracks is None else n_tracks
    R = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                      shape=(n_playlists, n_tracks))
    R.sum_duplicates()
    R.data[:] = 1.0
    return R


def side_blocks(tracks: pd.DataFrame, columns: Sequence[str] = ("artist_id", "album_id"),
                min_tracks: int = 2) -> list[sp.csr_matrix]:
    """One binary tracks × values matrix per column of ``tracks`` (e.g. artist and album nodes,
    each linked to its tracks), for :func:`normalized_adjacency` and artist-aware models.

    Missing or empty values link to nothing. Values held by fewer than ``min_tracks`` tracks are
    dropped: a node with a single track links that track to nothing new. Columns the table lacks
    are skipped, so a source without albums still works.
    """
    blocks = []
    for column in columns:
        if column not in tracks.columns:
            continue
        values = tracks[column].astype("string").fillna("")
        codes, _ = pd.factorize(values.mask(values == ""), use_na_sentinel=True)
        linked = codes >= 0
        if linked.any():
            linked[linked] = np.bincount(codes[linked])[codes[linked]] >= min_tracks
        # Renumber the surviving values densely, in order of first appearance.
        _, dense = np.unique(codes[linked], return_inverse=True)
        rows = np.flatnonzero(linked)
        blocks.append(sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, dense)),
            shape=(len(tracks), int(dense.max()) + 1 if len(dense) else 0)))
    return blocks


def bipartite_adjacency(R: sp.spmatrix, bipartite_blocks: Sequence[sp.spmatrix] = ()) -> sp.csr_matrix:
    """The symmetric, unnormalised adjacency of the playlist–track graph plus, for each block of
    ``bipartite_blocks`` (tracks × side nodes, e.g. from :func:`side_blocks`), track–side edges.
    Node layout as in the module docstring; float32 CSR with sorted indices."""
    n_playlists, n_tracks = R.shape
    sizes = [n_playlists, n_tracks] + [b.shape[1] for b in bipartite_blocks]
    grid = [[None] * len(sizes) for _ in sizes]
    grid[0][1], grid[1][0] = R, R.T
    for i, block in enumerate(bipartite_blocks, start=2):
        if block.shape[0] != n_tracks:
            raise ValueError(f"side block {i - 2} has {block.shape[0]} rows, expected {n_tracks} tracks")
        grid[1][i], grid[i][1] = block, block.T
    # bmat needs at least one block per row/column to know the sizes; empty diagonals do that.
    for i, size in enumerate(sizes):
        grid[i][i] = sp.csr_matrix((size, size), dtype=np.float32)
    A = sp.bmat(grid, format="csr", dtype=np.float32)
    A.sort_indices()
    return A


def symmetric_normalize(A: sp.spmatrix) -> sp.csr_matrix:
    """``D^-1/2 A D^-1/2`` with D the row sums of A; isolated nodes keep all-zero rows."""
    degree = np.asarray(A.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree, dtype=np.float32)
    np.divide(1.0, np.sqrt(degree), out=inv_sqrt, where=degree > 0)
    scale = sp.diags(inv_sqrt)
    out = (scale @ A @ scale).astype(np.float32).tocsr()
    out.sort_indices()
    return out


def normalized_adjacency(R: sp.spmatrix, bipartite_blocks: Sequence[sp.spmatrix] = ()) -> sp.csr_matrix:
    """The symmetric-normalised adjacency ``D^-1/2 A D^-1/2`` that LightGCN-style models
    propagate over: A from :func:`bipartite_adjacency` (playlists, tracks, then side nodes)."""
    return symmetric_normalize(bipartite_adjacency(R, bipartite_blocks))


def cooccurrence(R: sp.spmatrix) -> sp.csr_matrix:
    """Tracks × tracks ``RᵀR`` (float32 counts of shared playlists; the diagonal is each track's
    playlist count), computed once so :func:`shares_playlist` is a lookup."""
    R = sp.csr_matrix(R, dtype=np.float32)
    C = (R.T @ R).tocsr()
    C.sort_indices()  # canonical CSR: scipy's element lookup then binary-searches each row
    return C


def shares_playlist(C: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean array: do tracks ``a[i]`` and ``b[i]`` share a playlist, by C from
    :func:`cooccurrence`. Vectorised over the pairs; O(log row length) per pair, no densifying."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return np.zeros(a.shape, dtype=bool)
    return (np.asarray(C[a.ravel(), b.ravel()]).ravel() > 0).reshape(a.shape)


def spectral_embedding(A: sp.spmatrix, track_nodes: slice, dim: int, seed: int = 0) -> np.ndarray:
    """num_nodes × ``dim`` float32: the top singular vectors of a normalised adjacency ``A`` whose
    edges all join a track (``track_nodes``) to a non-track node (playlists, artists, albums).

    Such an A is ``[[0, B], [Bᵀ, 0]]`` up to node order, so its leading eigenvectors are the
    singular vectors of B, and LightGCN's propagation ``Â x`` only rescales them: the truncated
    SVD is what a linear GCN converges towards (SVD-GCN, Peng et al. 2022), computed directly.
    Tracks get ``V·√σ``, the other nodes ``U·√σ``, all scaled by one factor to a mean squared
    row length of 1 (so that an optimiser's steps are small against it).
    """
    from sklearn.utils.extmath import randomized_svd

    A = sp.csr_matrix(A, dtype=np.float64)
    others = np.setdiff1d(np.arange(A.shape[0]), np.arange(A.shape[0])[track_nodes])
    B = A[others][:, track_nodes]
    k = max(1, min(dim, min(B.shape) - 1))
    rng = np.random.default_rng(seed)
    # Randomized (Halko et al.), not ARPACK: a graph of many small components has many singular
    # values equal to 1, on which ARPACK's svds ran for over 25 minutes (the cold-track split);
    # any basis of that top subspace serves as well here.
    u, s, vt = randomized_svd(B, n_components=k, n_iter=4, random_state=seed)
    root = np.sqrt(np.maximum(s, 0.0))
    out = np.zeros((A.shape[0], dim), dtype=np.float64)
    out[others, :k] = u * root
    out[track_nodes, :k] = vt.T * root
    if k < dim:  # a tiny graph has fewer singular vectors than dimensions: small noise fills the rest
        out[:, k:] = rng.standard_normal((A.shape[0], dim - k)) * 1e-3
    scale = np.sqrt(A.shape[0]) / max(np.linalg.norm(out), 1e-12)
    return (out * scale).astype(np.float32)
