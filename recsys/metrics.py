"""Ranking metrics for playlist continuation.

Each per-query metric takes ``ranked`` — recommended track ids, best first, seeds already left
out — and ``targets`` — the held-out track ids (a non-empty collection; order and repeats are
ignored). Ranks below are 1-based: ``ranked[0]`` has rank 1. The harness averages them over
queries.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

CLICKS_PAGE = 10
CLICKS_MAX_RANKED = 500


def _relevance(ranked: Sequence[int], targets: Iterable[int]) -> tuple[np.ndarray, int]:
    """Boolean hit array over ``ranked`` and the number of distinct targets."""
    target_set = np.unique(np.asarray(targets if isinstance(targets, np.ndarray) else list(targets)))
    if target_set.size == 0:
        raise ValueError("a query needs at least one target")
    return np.isin(np.asarray(ranked), target_set), int(target_set.size)


def r_precision(ranked: Sequence[int], targets: Iterable[int]) -> float:
    """``|ranked[:R] ∩ targets| / R`` with ``R = |targets|`` (RecSys 2018, track level), in [0, 1]."""
    hits, n_targets = _relevance(ranked, targets)
    return float(hits[:n_targets].sum() / n_targets)


def precision_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    """``|ranked[:k] ∩ targets| / k``, in [0, 1] (below 1 whenever there are fewer than k targets)."""
    hits, _ = _relevance(ranked, targets)
    return float(hits[:k].sum() / k)


def recall_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    """``|ranked[:k] ∩ targets| / |targets|``, in [0, 1]."""
    hits, n_targets = _relevance(ranked, targets)
    return float(hits[:k].sum() / n_targets)


def hit_rate_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    """1.0 if any target is in ``ranked[:k]``, else 0.0."""
    hits, _ = _relevance(ranked, targets)
    return float(hits[:k].any())


def ndcg_at_k(ranked: Sequence[int], targets: Iterable[int], k: int) -> float:
    """``DCG@k / IDCG@k`` with binary relevance: ``DCG@k = Σ_{i ≤ k, ranked[i-1] ∈ targets}
    1 / log2(i + 1)``, and IDCG@k the DCG of ``min(k, |targets|)`` hits at ranks 1, 2, ...
    In [0, 1]; 1 when the top of the list is all targets."""
    hits, n_targets = _relevance(ranked, targets)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(discounts[:len(hits[:k])][hits[:k]].sum())
    idcg = float(discounts[:min(k, n_targets)].sum())
    return dcg / idcg


def clicks(ranked: Sequence[int], targets: Iterable[int]) -> int:
    """RecSys 2018 "recommended songs clicks": Spotify shows 10 tracks a page, so with the first
    relevant track at 0-based index i the user clicks ``floor(i / 10)`` times to reach it; if none
    of the first 500 is relevant, 51 (one more than the 50 pages). In {0, ..., 51}; lower is better."""
    hits, _ = _relevance(ranked, targets)
    first = np.flatnonzero(hits[:CLICKS_MAX_RANKED])
    return int(first[0] // CLICKS_PAGE) if first.size else CLICKS_MAX_RANKED // CLICKS_PAGE + 1


def coverage(recommended: Iterable[Sequence[int]], n_tracks: int) -> float:
    """Share of the catalog that appears in at least one recommendation list (pass each query's
    top-k): ``|∪ lists| / n_tracks``, in [0, 1]."""
    lists = [np.asarray(r, dtype=np.int64).ravel() for r in recommended]
    if not lists or n_tracks <= 0:
        return 0.0
    return float(np.unique(np.concatenate(lists)).size / n_tracks)
