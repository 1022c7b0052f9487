"""Offline item neighbourhoods for the hybrid recommender (scipy; computed once, served as arrays).

A track is described by the playlists it is in plus, with a weight, its artist and its album
(the profiles of :class:`recsys.models.baselines.ItemKNN`); its neighbours are the ``size``
tracks of highest cosine similarity to it. Serving sums and fuses these lists per seed without
any sparse algebra (:mod:`recsys.serving.continuation`), so the artifact stores them as two
dense ``tracks × size`` arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from recsys.data.graph import side_blocks

# Rows of the similarity matrix computed at once: bounds the sparse product's memory.
_ROW_CHUNK = 2048


@dataclass(frozen=True)
class Neighbourhoods:
    """``rows[i]``: the neighbours of track i, most similar first, -1 padding; ``weights[i]``:
    their cosine similarities (0 on padding)."""

    rows: np.ndarray     # (n_tracks, size) int32
    weights: np.ndarray  # (n_tracks, size) float32


def track_profiles(R: sp.spmatrix, tracks, artist_weight: float, album_weight: float) -> sp.csc_matrix:
    """Features × tracks, L2-normalised columns: playlists, then weighted artist and album rows."""
    rows = [sp.csr_matrix(R, dtype=np.float64)]
    side = [(c, w) for c, w in (("artist_id", artist_weight), ("album_id", album_weight)) if w > 0]
    if side:
        blocks = side_blocks(tracks, columns=[c for c, _ in side])
        rows += [w * b.T for (_, w), b in zip(side, blocks)]
    profiles = sp.vstack(rows, format="csc", dtype=np.float64)
    norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=0)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (profiles @ sp.diags(inverse)).tocsc()


def item_neighbourhoods(R: sp.spmatrix, tracks, *, size: int = 100, artist_weight: float = 1.0,
                        album_weight: float = 0.5, progress: bool = False) -> Neighbourhoods:
    """The ``size`` most similar tracks of every track (never itself) by profile cosine."""
    profiles = track_profiles(R, tracks, artist_weight, album_weight)
    by_track = profiles.T.tocsr()
    n_tracks = profiles.shape[1]
    out_rows = np.full((n_tracks, size), -1, dtype=np.int32)
    out_weights = np.zeros((n_tracks, size), dtype=np.float32)
    starts = range(0, n_tracks, _ROW_CHUNK)
    for start in tqdm(starts, desc="item neighbourhoods", unit="chunk", disable=not progress):
        stop = min(start + _ROW_CHUNK, n_tracks)
        similarity = (by_track[start:stop] @ profiles).tocsr()
        similarity.setdiag(0.0)  # a track is not its own neighbour
        similarity.eliminate_zeros()
        for local in range(stop - start):
            lo, hi = similarity.indptr[local], similarity.indptr[local + 1]
            if lo == hi:
                continue
            values, columns = similarity.data[lo:hi], similarity.indices[lo:hi]
            take = min(size, hi - lo)
            top = np.argpartition(-values, take - 1)[:take] if take < hi - lo else np.arange(hi - lo)
            # Ties (common: tracks sharing one playlist) go to the lower row, deterministically.
            top = top[np.lexsort((columns[top], -values[top]))]
            out_rows[start + local, :take] = columns[top]
            out_weights[start + local, :take] = values[top]
    return Neighbourhoods(out_rows, out_weights)
