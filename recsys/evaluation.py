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

REPORT_SCHEMA_VERSION = 2
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
# The served default recipe (recsys.training.hybrid), a model name of ``compare``.
HYBRID = "hybrid"
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


def write_report(results: dict[str, dict], out_dir: str | os.PathLike, meta: dict | None = None,
                 name: str = "report") -> Path:
    """Write ``<name>.json`` and ``<name>.md`` comparing models into ``out_dir``; returns the JSON path.

    ``results`` maps model name -> the dict of :func:`evaluate`, optionally with ``train_seconds``,
    ``config`` (the hyper-parameters used) and ``notes``. ``report.json`` (what the app reads)::

        {"schema_version": 1, "created_at": ISO-8601 UTC, "meta": {dataset, split, ... as given},
         "k": 20, "best": name with the highest NDCG@500,
         "models": [{"name", <every METRIC_COLUMNS key>, "n_queries", "k", "ms_per_query",
                     "train_seconds" (or null), "config" (dict), "notes" (str)}, ...]}
                                                                      # best NDCG@500 first
    """
    if not results:
        raise RecsysError("write_report: no results to report")
    rows = [{"name": name, **r, "train_seconds": r.get("train_seconds"), "config": r.get("config", {}),
             "notes": r.get("notes", "")}
            for name, r in results.items()]
    rows.sort(key=lambda r: r[HEADLINE], reverse=True)
    k = rows[0]["k"]
    report = {"schema_version": REPORT_SCHEMA_VERSION,
              "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "meta": meta or {}, "k": k, "best": rows[0]["name"], "models": rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{name}.json", lambda f: f.write((json.dumps(report, indent=2) + "\n").encode()))
    atomic_write(out / f"{name}.md", lambda f: f.write(report_markdown(report).encode()))
    return out / f"{name}.json"


def report_markdown(report: dict) -> str:
    """The report as a markdown page: what was measured, then one table row per model."""
    k = report["k"]
    meta = report["meta"]
    lines = ["# Evaluation report", ""]
    if meta:
        lines += [f"- {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}"
                  for key, value in meta.items()]
    lines += [f"- created: {report['created_at']}; best by NDCG@500: **{report['best']}**",
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
            model_overrides: dict[str, dict] | None = None, on_result=None) -> tuple[dict, dict]:
    """Fit every baseline in ``names`` (tuned on the validation queries), train every GNN
    (``recsys.training.train_model``) on ``split.train`` and fit the hybrid (``"hybrid"``, on
    the LightGCN embeddings, trained for it when not named); measure each on the test queries,
    ranking only ``split.catalog``. ``gnn_overrides`` are training settings for every GNN,
    ``model_overrides[name]`` for one of them (applied over the former).

    Returns ``(results, trained)``: per-model report rows, and each GNN's ``TrainResult`` and the
    hybrid's ``HybridModel`` (so a caller can publish exactly what was measured). ``on_result(name, results,
    trained)`` runs after each model: to rewrite the report so a later failure keeps the figures
    so far, or to publish a GNN while the next one trains.
    """
    from recsys.graph import interaction_matrix
    from recsys.models.baselines import BASELINES

    R = interaction_matrix(split.train, dataset.n_playlists, dataset.n_tracks)
    results, trained = {}, {}

    def train(gnn: str):
        settings = {**(gnn_overrides or {}), **(model_overrides or {}).get(gnn, {})}
        return _gnn_trainer()(dataset, split, gnn, settings or None)

    for name in names:
        if name in BASELINES:
            scorer, seconds, config, notes = fit_baseline(BASELINES[name], R, dataset, split, k)
        elif name == HYBRID:
            fit_hybrid, embedding_model = _hybrid_fitter()
            if embedding_model not in trained:
                trained[embedding_model] = train(embedding_model)
            model = trained[name] = fit_hybrid(dataset, split, trained[embedding_model], k=k)
            scorer, seconds, config = RankerScorer(model.ranker(), split.catalog), model.seconds, model.config
            notes = (f"served ranking: {embedding_model} embeddings + item and playlist neighbourhoods; "
                     f"blend chosen among {len(model.trials)} on validation NDCG@500")
        else:
            result = trained[name] = train(name)
            scorer, seconds, config = EmbeddingScorer(result.embeddings), result.seconds, result.config
            notes = (f"embeddings alone; best of {len(result.curves)} epochs at epoch "
                     f"{result.metrics.get('best_epoch', len(result.curves))}")
        r = results[name] = {**evaluate(scorer, split.test, k=k, catalog=split.catalog),
                             "train_seconds": seconds, "config": config, "notes": notes}
        print(f"{name:16s} NDCG@500 {r['ndcg_at_500']:.4f}  R-prec {r['r_precision']:.4f}  "
              f"NDCG@{k} {r['ndcg_at_k']:.4f}  clicks {r['clicks']:.2f}  fit {seconds:.1f}s", flush=True)
        if on_result is not None:
            on_result(name, results, trained)
    return results, trained


def report_meta(dataset, split, **extra) -> dict:
    """The report's header: which data and which split the figures come from."""
    return {"dataset": dataset.name, "fingerprint": dataset.meta.get("fingerprint"),
            "playlists": dataset.n_playlists, "tracks": dataset.n_tracks, "split": split.describe(),
            **extra}


def run(args) -> int:
    """``python -m recsys evaluate``: every requested model fitted or trained and measured on the
    test queries (``compare``) of the standard protocol (report.json, the headline) and of the
    cold-track view (report-cold-track.json); prints the headline report's path last."""
    from recsys.dataset import load_dataset
    from recsys.models import GNN_MODELS
    from recsys.models.baselines import BASELINES
    from recsys.splits import continuation_split, standard_split

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES and n not in GNN_MODELS and n != HYBRID]
    if not names or unknown:
        raise RecsysError(f"--models: unknown model(s) {unknown or args.models!r}; "
                          f"choose from {', '.join([*BASELINES, *GNN_MODELS, HYBRID])}")
    overrides = _parse_overrides(args.set or [])
    if any(n in GNN_MODELS or n == HYBRID for n in names):
        _gnn_trainer()  # fail before any work if training cannot be imported

    dataset = load_dataset(args.dataset)
    splits = {"report": standard_split(dataset, n_test=args.n_test, n_val=args.n_val, seed=args.seed),
              "report-cold-track": continuation_split(dataset, n_test=args.n_test, n_val=args.n_val,
                                                      n_seed=args.n_seed, seed=args.seed)}
    out_dir = args.out or Path("reports") / dataset.name
    for report_name, split in splits.items():
        print(f"{dataset.name}, {split.protocol} protocol: {len(split.test)} test and {len(split.val)} "
              f"validation playlists", flush=True)
        meta = report_meta(dataset, split)
        compare(dataset, split, names, k=args.k, gnn_overrides=overrides,
                on_result=lambda _name, results, _trained, meta=meta, report_name=report_name:
                    write_report(results, out_dir, meta, name=report_name))
    print(Path(out_dir) / "report.json")
    return 0


def fit_baseline(cls, R, dataset, split, k: int) -> tuple[Scorer, float, dict, str]:
    """Tune ``cls`` over its ``param_grid`` on the validation queries, then fit the best setting;
    returns (fitted model, seconds of the final fit, its parameters, a note for the report)."""
    config, notes = {}, []
    if len(cls.param_grid) > 1 and split.val:
        began = time.perf_counter()
        config, _ = tune(lambda params: cls(**params).fit(R, dataset), cls.param_grid, split.val, k,
                         catalog=split.catalog)
        notes.append(f"{len(cls.param_grid)} settings tuned on validation NDCG@500 "
                     f"in {time.perf_counter() - began:.1f}s")
    began = time.perf_counter()
    model = cls(**config).fit(R, dataset)
    seconds = time.perf_counter() - began
    if getattr(model, "restricted", False):
        notes.append(f"restricted to the {len(model.items)} most popular tracks")
    return model, seconds, config, "; ".join(notes)


def _hybrid_fitter():
    from recsys.training.hybrid import EMBEDDING_MODEL, fit_hybrid
    return fit_hybrid, EMBEDDING_MODEL


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
