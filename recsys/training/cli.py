"""``python -m recsys train``: train the default recipe (the hybrid) or one GNN on a dataset and
publish its artifact; the artifact's path is printed last."""
from __future__ import annotations

import argparse
from pathlib import Path

# The options are declared in recsys/cli.py (so building the parser never imports torch).
# CLI flag -> TrainConfig field, for the settings worth changing from the command line.
FLAGS = {"epochs": "epochs", "seed": "seed", "device": "device", "dim": "embedding_dim",
         "layers": "num_layers", "lr": "lr", "batch_size": "batch_size", "steps_per_epoch": "steps_per_epoch",
         "patience": "patience"}


def run(args: argparse.Namespace) -> int:
    from recsys.dataset import load_dataset
    from recsys.splits import standard_split
    from recsys.training import distributed
    from recsys.training.hybrid import EMBEDDING_MODEL, fit_hybrid
    from recsys.training.publish import publish_hybrid, publish_result
    from recsys.training.trainer import make_config, train_model

    dataset = load_dataset(args.dataset)
    overrides = {field: getattr(args, flag) for flag, field in FLAGS.items()
                 if getattr(args, flag) is not None}
    if args.no_side_nodes:
        overrides["side_nodes"] = ()
    gnn = args.model or EMBEDDING_MODEL
    config = make_config(gnn, overrides)
    # Validation holds out the second half of a few playlists (early stopping, the hybrid's
    # blend); no test split: the evaluation report (python -m recsys evaluate) measures that.
    split = standard_split(dataset, n_test=0, n_val=args.val_playlists, seed=config.seed)
    checkpoint_dir = Path(args.checkpoint_dir or Path("runs") / f"{dataset.name}-{gnn}")
    result = train_model(dataset, split, gnn, overrides, checkpoint_dir=checkpoint_dir,
                         resume=args.resume, progress=not args.quiet)
    if distributed.is_main():  # under torchrun every rank trains; one publishes
        if args.model:
            path = publish_result(args.out, args.model, dataset, result, split, dtype=args.dtype)
        else:
            hybrid = fit_hybrid(dataset, split, result, progress=not args.quiet)
            path = publish_hybrid(args.out, "hybrid", dataset, hybrid, split)
        print(path)
    distributed.shutdown()
    return 0
