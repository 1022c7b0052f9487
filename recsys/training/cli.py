"""``python -m recsys train``: train one GNN on a dataset and publish its artifact."""
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
    from recsys.splits import continuation_split
    from recsys.training import distributed
    from recsys.training.publish import publish_result
    from recsys.training.trainer import make_config, train_model

    dataset = load_dataset(args.dataset)
    overrides = {field: getattr(args, flag) for flag, field in FLAGS.items()
                 if getattr(args, flag) is not None}
    if args.no_side_nodes:
        overrides["side_nodes"] = ()
    config = make_config(args.model, overrides)
    # Validation holds out the later tracks of a few playlists; no test split: every playlist
    # trains, and the evaluation report (python -m recsys evaluate) measures held-out playlists.
    split = continuation_split(dataset, n_test=0, n_val=args.val_playlists, seed=config.seed)
    checkpoint_dir = Path(args.checkpoint_dir or Path("runs") / f"{dataset.name}-{args.model}")
    result = train_model(dataset, split, args.model, overrides, checkpoint_dir=checkpoint_dir,
                         resume=args.resume, progress=not args.quiet)
    if distributed.is_main():  # under torchrun every rank trains; one publishes
        print(publish_result(args.out, args.model, dataset, result, split, dtype=args.dtype))
    distributed.shutdown()
    return 0
