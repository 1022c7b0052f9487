"""How a set of seed tracks becomes a query: shared by serving and by the evaluation harness,
so the offline figures measure exactly what the app serves."""
from __future__ import annotations

import numpy as np


def l2_normalize(matrix: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, eps)


def seed_query(embeddings: np.ndarray, seed_rows: np.ndarray) -> np.ndarray:
    """The playlist's query vector: the normalised mean of its seeds' (normalised) embeddings.

    Scoring every track by inner product with it ranks tracks by their mean cosine similarity
    to the seeds.
    """
    seeds = np.asarray(embeddings[np.asarray(seed_rows, dtype=np.int64)], dtype=np.float32)
    return l2_normalize(seeds.mean(axis=0))
