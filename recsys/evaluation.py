"""The evaluation harness: any model that scores tracks for a set of seeds, measured on held-out
playlists. Torch-free and model-free: it imports neither training nor any model; the experiments
that train and compare models (``recsys.training.experiments``) and the reports they write
(``recsys.reports``) sit on top of it.

Embedding models are scored by :class:`EmbeddingScorer`, exactly as serving scores them
(:func:`recsys.scoring.seed_query` and an inner product), so the figures are the served model's.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from recsys import metrics
from recsys.errors import RecsysError
from recsys.scoring import l2_normalize, seed_query
from recsys.data.splits import Query

# Metric keys of every result, in report column order, with their table headers. The first is the
# headline (the RecSys Challenge 2018's NDCG over the 500 tracks a submission holds).
METRIC_COLUMNS = {
    "ndcg_at_500": "NDCG@500",
    "r_precision": "R-precision",
    "clicks": "clicks",
    "recall_at_100": "Recall@100",
    "ndcg_at_k": "NDCG@{k}",
    "recall_at_k": "Recall@{k}",
    "hit_rate_at_k": "HitRate@{k}",
    "precision_at_k": "Precision@{k}",
    "coverage": "coverage@{k}",
}
HEADLINE = "ndcg_at_500"
# Per-query metric functions of (ranked, targets, k).
_PER_QUERY = {
    "ndcg_at_500": lambda ranked, targets, k: metrics.ndcg_at_k(ranked, targets, metrics.CLICKS_MAX_RANKED),
    "r_precision": lambda ranked, targets, k: metrics.r_precision(ranked, targets),
    "clicks": lambda ranked, targets, k: metrics.clicks(ranked, targets),
    "recall_at_100": lambda ranked, targets, k: metrics.recall_at_k(ranked, targets, 100),
    "ndcg_at_k": metrics.ndcg_at_k,
    "recall_at_k": metrics.recall_at_k,
    "hit_rate_at_k": metrics.hit_rate_at_k,
    "precision_at_k": metrics.precision_at_k,
}


class Scorer(Protocol):
    """Anything that scores every track for each query: ``score([seeds, ...])`` returns an
    ``(n_queries, n_tracks)`` array, higher is better. Seeds need not score low: the harness
    never ranks them."""

    def score(self, queries: Sequence[np.ndarray]) -> np.ndarray: ...


class EmbeddingScorer:
    """Scores tracks as serving does: query = :func:`seed_query` over L2-normalised embeddings,
    score = inner product with every normalised track embedding (the mean cosine to the seeds)."""

    def __init__(self, embeddings: np.ndarray):
        self.embeddings = l2_normalize(embeddings)

    def score(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        vectors = np.stack([seed_query(self.embeddings, seeds) for seeds in queries])
        return vectors @ self.embeddings.T


class RankerScorer:
    """Scores with the served hybrid itself (:class:`recsys.serving.continuation.ContinuationRanker`):
    a query's ``depth`` best continuations score depth, depth-1, ... 1, every other track -inf."""

    def __init__(self, ranker, catalog: np.ndarray | None = None, depth: int = 2 * metrics.CLICKS_MAX_RANKED):
        self.ranker, self.catalog, self.depth = ranker, catalog, depth

    def score(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        scores = np.full((len(queries), self.ranker.n_tracks), -np.inf)
        for row, seeds in enumerate(queries):
            ranked = self.ranker.rank(seeds, self.depth, allowed=self.catalog)
            scores[row, ranked.rows] = np.arange(len(ranked.rows), 0, -1)
        return scores


def rank(scores: np.ndarray, exclude: Sequence[np.ndarray], depth: int,
         catalog: np.ndarray | None = None) -> np.ndarray:
    """Top ``depth`` track_idx per row of ``scores``, best first, never one of that row's
    ``exclude`` (the seeds: serving never recommends a playlist's own tracks back) nor a track
    outside ``catalog`` (a boolean mask; None: every track)."""
    scores = np.array(scores, dtype=np.float64)
    if catalog is not None:
        scores[:, ~catalog] = -np.inf
    for row, seeds in enumerate(exclude):
        scores[row, np.asarray(seeds, dtype=np.int64)] = -np.inf
    depth = min(depth, scores.shape[1])
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def evaluate(scorer: Scorer, queries: Sequence[Query], k: int = 20, batch_size: int = 256,
             catalog: np.ndarray | None = None) -> dict:
    """Mean metrics of ``scorer`` over ``queries``; seeds are excluded from every ranking, and
    only tracks in ``catalog`` (a boolean mask, e.g. ``Split.catalog``) are ranked.

    Returns ``{"n_queries", "k", <every METRIC_COLUMNS key>, "ms_per_query"}``: means over
    queries, coverage of the catalog by the top-k lists, and wall milliseconds per query for
    scoring + ranking. A target outside the catalog stays in every denominator: a miss.
    """
    if not queries:
        raise RecsysError("evaluate: no queries (is the split empty?)")
    # Deep enough for clicks (500) and for R-precision on the longest target list.
    depth = max(metrics.CLICKS_MAX_RANKED, max(len(q.targets) for q in queries))
    per_query = {name: [] for name in METRIC_COLUMNS if name != "coverage"}
    top_k_lists = []
    n_tracks = None
    seconds = 0.0
    for start in range(0, len(queries), batch_size):
        batch = queries[start:start + batch_size]
        began = time.perf_counter()
        scores = scorer.score([q.seeds for q in batch])
        ranked = rank(scores, [q.seeds for q in batch], depth, catalog)
        seconds += time.perf_counter() - began
        n_tracks = scores.shape[1] if catalog is None else int(catalog.sum())
        for q, row in zip(batch, ranked):
            for name, values in per_query.items():
                values.append(_PER_QUERY[name](row, q.targets, k))
            top_k_lists.append(row[:k])
    result = {"n_queries": len(queries), "k": k}
    result.update({name: float(np.mean(values)) for name, values in per_query.items()})
    result["coverage"] = metrics.coverage(top_k_lists, n_tracks)
    result["ms_per_query"] = 1000.0 * seconds / len(queries)
    return result


def tune(make_scorer: Callable[[dict], Scorer], grid: Sequence[dict], queries: Sequence[Query],
         k: int = 20, catalog: np.ndarray | None = None) -> tuple[dict, list[dict]]:
    """Pick the parameters of ``grid`` whose scorer (``make_scorer(params)``, fitted) has the best
    headline metric (NDCG@500) on ``queries`` (the validation split, never the test split).

    Returns ``(best_params, trials)`` with one ``{"params", HEADLINE}`` per grid point.
    """
    trials = []
    for params in grid:
        result = evaluate(make_scorer(params), queries, k, catalog=catalog)
        trials.append({"params": params, HEADLINE: result[HEADLINE]})
    best = max(trials, key=lambda t: t[HEADLINE])
    return best["params"], trials


def tune_coordinates(make_scorer: Callable[[dict], Scorer], space: dict[str, Sequence], start: dict,
                     queries: Sequence[Query], k: int = 20, catalog: np.ndarray | None = None,
                     rounds: int = 2) -> tuple[dict, list[dict]]:
    """Coordinate ascent over ``space`` (parameter -> candidate values) from ``start``: each round
    tries every value of one parameter at a time, the others held at the best so far, and keeps
    the best headline metric on ``queries`` (validation). A grid's trials multiply with each
    parameter; these add up, so a blend of six knobs is tuned in ~25 trials instead of 600.

    Returns ``(best_params, trials)`` as :func:`tune` does; no setting is evaluated twice.
    """
    seen: dict[tuple, float] = {}
    trials = []

    def headline(params: dict) -> float:
        key = tuple(sorted(params.items()))
        if key not in seen:
            seen[key] = evaluate(make_scorer(params), queries, k, catalog=catalog)[HEADLINE]
            trials.append({"params": params, HEADLINE: seen[key]})
        return seen[key]

    best = dict(start)
    best_value = headline(best)
    for _ in range(rounds):
        before = best_value
        for name, values in space.items():
            for value in values:
                candidate = {**best, name: value}
                if (value_of := headline(candidate)) > best_value:
                    best, best_value = candidate, value_of
        if best_value <= before:
            break
    return best, trials

