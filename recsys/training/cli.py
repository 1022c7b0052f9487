"""``python -m recsys train``: train the default recipe (the hybrid) or one GNN on a dataset and
publish its artifact; the artifact's path is printed last. The arguments are declared in
``recsys.cli`` (so building the parser never imports torch); the training settings come as
``--set KEY=VALUE``, checked here against the fields of ``TrainConfig``."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from recsys.errors import RecsysError
from recsys.paths import models_dir


def train_overrides(settings: dict) -> dict:
    """``settings`` (``recsys.cli.parse_settings``) checked against ``TrainConfig``'s fields: each
    key must be a field, each value of the field default's type (an int is a float too; a list
    is a tuple). Adding a setting to ``TrainConfig`` makes it settable here, with no other edit."""
    from recsys.training.trainer import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "model"}
    overrides = {}
    for key, value in settings.items():
        if key not in fields:
            raise RecsysError(f"--set {key}: not a training setting; known: {', '.join(sorted(fields))}")
        default = fields[key].default if fields[key].default is not dataclasses.MISSING \
            else fields[key].default_factory()
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            raise RecsysError(f"--set {key}={value!r}: expected {type(default).__name__} "
                              f"(default {default!r})")
        overrides[key] = value
    return overrides


def train(args: argparse.Namespace, settings: dict) -> int:
    from recsys.data.dataset import load_dataset
    from recsys.data.splits import standard_split
    from recsys.training import distributed
    from recsys.training.hybrid import EMBEDDING_MODEL, fit_hybrid
    from recsys.training.publish import publish_hybrid, publish_result
    from recsys.training.trainer import make_config, train_model

    overrides = train_overrides(settings)
    dataset = load_dataset(args.dataset)
    gnn = args.model or EMBEDDING_MODEL
    config = make_config(gnn, overrides)
    # Validation holds out the second half of a few playlists (early stopping, the hybrid's
    # blend); no test split: the evaluation report (python -m recsys evaluate) measures that.
    split = standard_split(dataset, n_test=0, n_val=args.val_playlists, seed=config.seed)
    checkpoint_dir = Path(args.checkpoint_dir or Path("runs") / f"{dataset.name}-{gnn}")
    result = train_model(dataset, split, gnn, overrides, checkpoint_dir=checkpoint_dir,
                         resume=args.resume, progress=not args.quiet)
    if distributed.is_main():  # under torchrun every rank trains; one publishes
        out = args.out or models_dir()
        if args.model:
            path = publish_result(out, args.model, dataset, result, split, dtype=args.dtype)
        else:
            hybrid = fit_hybrid(dataset, split, result, progress=not args.quiet)
            path = publish_hybrid(out, "hybrid", dataset, hybrid, split)
        print(path)
    distributed.shutdown()
    return 0
