"""The evaluation harness: any model that scores tracks for a set of seeds, measured on held-out
playlists, and the comparison report the app shows. Torch-free: GNNs are trained through
``recsys.training.train_model``, imported only when a GNN is asked for.

Embedding models are scored by :class:`EmbeddingScorer`, exactly as serving scores them
(:func:`recsys.scoring.seed_query` and an inner product), so the figures are the served model's.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from recsys import metrics
from recsys.artifacts import atomic_write
from recsys.errors import RecsysError
from recsys.scoring import l2_normalize, seed_query
from recsys.splits import Query

REPORT_SCHEMA_VERSION = 1
# Metric keys of every result, in report column order, with their table headers.
METRIC_COLUMNS = {
    "r_precision": "R-precision",
    "ndcg_at_k": "NDCG@{k}",
    "recall_at_k": "Recall@{k}",
    "hit_rate_at_k": "HitRate@{k}",
    "precision_at_k": "Precision@{k}",
    "clicks": "clicks",
    "coverage": "coverage@{k}",
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


def rank(scores: np.ndarray, exclude: Sequence[np.ndarray], depth: int) -> np.ndarray:
    """Top ``depth`` track_idx per row of ``scores``, best first, never one of that row's
    ``exclude`` (the seeds: serving never recommends a playlist's own tracks back)."""
    scores = np.array(scores, dtype=np.float64)
    for row, seeds in enumerate(exclude):
        scores[row, np.asarray(seeds, dtype=np.int64)] = -np.inf
    depth = min(depth, scores.shape[1])
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def evaluate(scorer: Scorer, queries: Sequence[Query], k: int = 20, batch_size: int = 256) -> dict:
    """Mean metrics of ``scorer`` over ``queries``; seeds are excluded from every ranking.

    Returns ``{"n_queries", "k", "r_precision", "ndcg_at_k", "recall_at_k", "hit_rate_at_k",
    "precision_at_k", "clicks", "coverage", "ms_per_query"}``: means over queries, coverage of the
    catalog by the top-k lists, and wall milliseconds per query for scoring + ranking.
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
        ranked = rank(scores, [q.seeds for q in batch], depth)
        seconds += time.perf_counter() - began
        n_tracks = scores.shape[1]
        for q, row in zip(batch, ranked):
            per_query["r_precision"].append(metrics.r_precision(row, q.targets))
            per_query["ndcg_at_k"].append(metrics.ndcg_at_k(row, q.targets, k))
            per_query["recall_at_k"].append(metrics.recall_at_k(row, q.targets, k))
            per_query["hit_rate_at_k"].append(metrics.hit_rate_at_k(row, q.targets, k))
            per_query["precision_at_k"].append(metrics.precision_at_k(row, q.targets, k))
            per_query["clicks"].append(metrics.clicks(row, q.targets))
            top_k_lists.append(row[:k])
    result = {"n_queries": len(queries), "k": k}
    result.update({name: float(np.mean(values)) for name, values in per_query.items()})
    result["coverage"] = metrics.coverage(top_k_lists, n_tracks)
    result["ms_per_query"] = 1000.0 * seconds / len(queries)
    return result


def tune(make_scorer: Callable[[dict], Scorer], grid: Sequence[dict], queries: Sequence[Query],
         k: int = 20) -> tuple[dict, list[dict]]:
    """Pick the parameters of ``grid`` whose scorer (``make_scorer(params)``, fitted) has the best
    NDCG@k on ``queries`` (the validation split, never the test split).

    Returns ``(best_params, trials)`` with one ``{"params", "ndcg_at_k"}`` per grid point.
    """
    trials = []
    for params in grid:
        trials.append({"params": params, "ndcg_at_k": evaluate(make_scorer(params), queries, k)["ndcg_at_k"]})
    best = max(trials, key=lambda t: t["ndcg_at_k"])
    return best["params"], trials


def write_report(results: dict[str, dict], out_dir: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write ``report.json`` and ``report.md`` comparing models into ``out_dir``; returns the JSON path.

    ``results`` maps model name -> the dict of :func:`evaluate`, optionally with ``train_seconds``,
    ``config`` (the hyper-parameters used) and ``notes``. ``report.json`` (what the app reads)::

        {"schema_version": 1, "created_at": ISO-8601 UTC, "meta": {dataset, split, ... as given},
         "k": 20, "best": name with the highest NDCG@k,
         "models": [{"name", "r_precision", "ndcg_at_k", "recall_at_k", "hit_rate_at_k",
                     "precision_at_k", "clicks", "coverage", "n_queries", "k", "ms_per_query",
                     "train_seconds" (or null), "config" (dict), "notes" (str)}, ...]}
                                                                      # best NDCG first
    """
    if not results:
        raise RecsysError("write_report: no results to report")
    rows = [{"name": name, **r, "train_seconds": r.get("train_seconds"), "config": r.get("config", {}),
             "notes": r.get("notes", "")}
            for name, r in results.items()]
    rows.sort(key=lambda r: r["ndcg_at_k"], reverse=True)
    k = rows[0]["k"]
    report = {"schema_version": REPORT_SCHEMA_VERSION,
              "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "meta": meta or {}, "k": k, "best": rows[0]["name"], "models": rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "report.json", lambda f: f.write((json.dumps(report, indent=2) + "\n").encode()))
    atomic_write(out / "report.md", lambda f: f.write(report_markdown(report).encode()))
    return out / "report.json"


def report_markdown(report: dict) -> str:
    """The report as a markdown page: what was measured, then one table row per model."""
    k = report["k"]
    meta = report["meta"]
    lines = ["# Evaluation report", ""]
    if meta:
        lines += [f"- {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}"
                  for key, value in meta.items()]
    lines += [f"- created: {report['created_at']}; best by NDCG@{k}: **{report['best']}**",
              "- seeds are excluded from every ranking; per-query ms = scoring + top-500 ranking", ""]
    headers = ["model"] + [h.format(k=k) for h in METRIC_COLUMNS.values()] + ["train s", "ms/query", "notes"]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in report["models"]:
        cells = [row["name"]] + [f"{row[m]:.2f}" if m == "clicks" else f"{row[m]:.4f}" for m in METRIC_COLUMNS]
        cells += ["" if row["train_seconds"] is None else f"{row['train_seconds']:.1f}",
                  f"{row['ms_per_query']:.2f}", row["notes"].replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def compare(dataset, split, names: Sequence[str], *, k: int = 20, gnn_overrides: dict | None = None,
            on_result=None) -> tuple[dict, dict]:
    """Fit every baseline in ``names`` (tuned on the validation queries) and train every GNN
    (``recsys.training.train_model``) on ``split.train``; measure each on the test queries.

    Returns ``(results, trained)``: per-model report rows, and each GNN's ``TrainResult`` (so a
    caller can publish exactly the embeddings that were measured). ``on_result(name, results,
    trained)`` runs after each model: to rewrite the report so a later failure keeps the figures
    so far, or to publish a GNN while the next one trains.
    """
    from recsys.graph import interaction_matrix
    from recsys.models.baselines import BASELINES

    R = interaction_matrix(split.train, dataset.n_playlists, dataset.n_tracks)
    results, trained = {}, {}
    for name in names:
        if name in BASELINES:
            scorer, seconds, config, notes = fit_baseline(BASELINES[name], R, dataset, split.val, k)
        else:
            result = trained[name] = _gnn_trainer()(dataset, split, name, gnn_overrides or None)
            scorer, seconds, config = EmbeddingScorer(result.embeddings), result.seconds, result.config
            notes = (f"embeddings scored as served; best of {len(result.curves)} epochs at epoch "
                     f"{result.metrics.get('best_epoch', len(result.curves))}")
        r = results[name] = {**evaluate(scorer, split.test, k=k), "train_seconds": seconds,
                             "config": config, "notes": notes}
        print(f"{name:16s} NDCG@{k} {r['ndcg_at_k']:.4f}  R-prec {r['r_precision']:.4f}  "
              f"Recall@{k} {r['recall_at_k']:.4f}  fit {seconds:.1f}s", flush=True)
        if on_result is not None:
            on_result(name, results, trained)
    return results, trained


def report_meta(dataset, split, **extra) -> dict:
    """The report's header: which data and which split the figures come from."""
    return {"dataset": dataset.name, "fingerprint": dataset.meta.get("fingerprint"),
            "playlists": dataset.n_playlists, "tracks": dataset.n_tracks, "split": split.describe(),
            **extra}


def run(args) -> int:
    """``python -m recsys evaluate``: one split, every requested model fitted or trained and
    measured on the test queries (``compare``); writes the report and prints its path last."""
    from recsys.dataset import load_dataset
    from recsys.models import GNN_MODELS
    from recsys.models.baselines import BASELINES
    from recsys.splits import continuation_split

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES and n not in GNN_MODELS]
    if not names or unknown:
        raise RecsysError(f"--models: unknown model(s) {unknown or args.models!r}; "
                          f"choose from {', '.join([*BASELINES, *GNN_MODELS])}")
    overrides = _parse_overrides(args.set or [])
    if any(n in GNN_MODELS for n in names):
        _gnn_trainer()  # fail before any work if training cannot be imported

    dataset = load_dataset(args.dataset)
    split = continuation_split(dataset, n_test=args.n_test, n_val=args.n_val, n_seed=args.n_seed,
                               seed=args.seed)
    print(f"{dataset.name}: {len(split.test)} test and {len(split.val)} validation playlists, "
          f"{split.n_seed} seeds each", flush=True)
    meta = report_meta(dataset, split)
    out_dir = args.out or Path("reports") / dataset.name
    compare(dataset, split, names, k=args.k, gnn_overrides=overrides,
            on_result=lambda _name, results, _trained: write_report(results, out_dir, meta))
    print(Path(out_dir) / "report.json")
    return 0


def fit_baseline(cls, R, dataset, val: Sequence[Query], k: int) -> tuple[Scorer, float, dict, str]:
    """Tune ``cls`` over its ``param_grid`` on the validation queries, then fit the best setting;
    returns (fitted model, seconds of the final fit, its parameters, a note for the report)."""
    config, notes = {}, []
    if len(cls.param_grid) > 1 and val:
        began = time.perf_counter()
        config, _ = tune(lambda params: cls(**params).fit(R, dataset), cls.param_grid, val, k)
        notes.append(f"{len(cls.param_grid)} settings tuned on validation NDCG@{k} "
                     f"in {time.perf_counter() - began:.1f}s")
    began = time.perf_counter()
    model = cls(**config).fit(R, dataset)
    seconds = time.perf_counter() - began
    if getattr(model, "restricted", False):
        notes.append(f"restricted to the {len(model.items)} most popular tracks")
    return model, seconds, config, "; ".join(notes)


def _gnn_trainer():
    try:
        from recsys.training import train_model
    except ImportError as exc:
        raise RecsysError("GNN models need recsys.training.train_model, which cannot be imported "
                          f"({exc}); evaluate the baselines alone meanwhile") from exc
    return train_model


def _parse_overrides(pairs: Sequence[str]) -> dict:
    """``KEY=VALUE`` strings -> dict; VALUE is read as JSON when it parses (numbers, booleans)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RecsysError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides
