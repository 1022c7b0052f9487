"""Experiments: fit every baseline (tuned on validation), train every GNN and fit the hybrid,
and measure each with the harness (``recsys.evaluation``) on the test queries; and
``python -m recsys evaluate``, which writes the comparison reports (``recsys.reports``).

Above the harness, beside training: ``recsys.training`` (torch) is imported only when a GNN or the
hybrid is asked for, so the baselines can be compared where torch is not installed.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from recsys.errors import RecsysError
from recsys.evaluation import EmbeddingScorer, RankerScorer, Scorer, evaluate, tune
from recsys.reports import report_meta, write_report

# The served default recipe (recsys.training.hybrid), a model name of ``compare``.
HYBRID = "hybrid"


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
    from recsys.data.graph import interaction_matrix
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
                     f"blend chosen by coordinate ascent over {len(model.trials)} settings on validation NDCG@500")
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


def run(args, overrides: dict) -> int:
    """``python -m recsys evaluate`` (``overrides``: its ``--set`` settings): every requested model fitted or trained and measured on the
    test queries (``compare``) of the standard protocol (report.json, the headline) and of the
    cold-track view (report-cold-track.json); prints the headline report's path last."""
    from recsys.data.dataset import load_dataset
    from recsys.models import GNN_MODELS
    from recsys.models.baselines import BASELINES
    from recsys.data.splits import continuation_split, standard_split

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES and n not in GNN_MODELS and n != HYBRID]
    if not names or unknown:
        raise RecsysError(f"--models: unknown model(s) {unknown or args.models!r}; "
                          f"choose from {', '.join([*BASELINES, *GNN_MODELS, HYBRID])}")
    if any(n in GNN_MODELS or n == HYBRID for n in names):
        _gnn_trainer()  # fail before any work if training cannot be imported

    dataset = load_dataset(args.dataset)
    splits = {}
    if args.protocol in ("standard", "both"):
        splits["report"] = standard_split(dataset, n_test=args.n_test, n_val=args.n_val, seed=args.seed)
    if args.protocol in ("cold-track", "both"):
        splits["report-cold-track"] = continuation_split(dataset, n_test=args.n_test, n_val=args.n_val,
                                                         n_seed=args.n_seed, seed=args.seed)
    out_dir = args.out or Path("reports") / dataset.name
    for report_name, split in splits.items():
        print(f"{dataset.name}, {split.protocol} protocol: {len(split.test)} test and {len(split.val)} "
              f"validation playlists", flush=True)
        meta = report_meta(dataset, split)
        compare(dataset, split, names, k=args.k, gnn_overrides=overrides,
                on_result=lambda _name, results, _trained, meta=meta, report_name=report_name:
                    write_report(results, out_dir, meta, name=report_name))
    print(Path(out_dir) / f"{next(iter(splits))}.json")
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
