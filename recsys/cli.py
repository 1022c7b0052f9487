"""``python -m recsys``: the public command line (documented in docs/data.md and docs/training.md; keep it stable).

One pair per sub-command: ``_add_<command>(commands)`` declares its arguments and
``_run_<command>(args)`` runs it. A run imports what it drives only when it runs, so
``python -m recsys stats`` never pays for importing torch. Training settings are given as
``--set KEY=VALUE`` (a ``TrainConfig`` field) to both ``train`` and ``evaluate``.
"""
from __future__ import annotations

import argparse
import json
import sys

from recsys.artifacts import EMBEDDING_DTYPES
from recsys.errors import RecsysError
from recsys.models import GNN_MODELS
from recsys.paths import models_dir as models_dir_default


MODELS_DIR_HELP = "default: $RECSYS_MODELS_DIR, else the repository's models/"


def parse_settings(pairs) -> dict:
    """``KEY=VALUE`` strings -> dict; VALUE is read as JSON when it parses (numbers, booleans,
    lists), else kept as text. Which keys exist and what type each takes is the reader's to check
    (``recsys.training.cli.train_overrides`` for training settings)."""
    settings = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RecsysError(f"--set {pair!r}: expected KEY=VALUE")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def _set_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"a training setting (a TrainConfig field of recsys/training/trainer.py, e.g. "
                             f"--set epochs=20 --set embedding_dim=32 --set side_nodes=[]) {what}; repeatable")


# -- ingest --

def _add_ingest(commands) -> None:
    ingest = commands.add_parser("ingest", help="turn a raw source into a canonical dataset")
    sources = ingest.add_subparsers(dest="source", required=True)

    csv = sources.add_parser("csv", help="spotify_songs.csv or the TidyTuesday schema")
    csv.add_argument("file", help="a .csv or .csv.gz file")
    csv.add_argument("--out", required=True, help="dataset directory to write")
    csv.add_argument("--name", help="dataset name (default: the --out directory's name)")
    csv.set_defaults(func=_run_ingest_csv)

    mpd = sources.add_parser("mpd", help="Million Playlist Dataset slices or the challenge set")
    mpd.add_argument("slice_dir", help="directory of mpd.slice.<a>-<b>.json files (and challenge_set.json), "
                                       "or one such file")
    mpd.add_argument("--out", required=True, help="dataset directory to write")
    mpd.add_argument("--name")
    mpd.add_argument("--workers", type=int, default=None, help="parser processes (default: all cores)")
    mpd.add_argument("--limit", type=int, default=None, help="read at most this many slice files")
    mpd.set_defaults(func=_run_ingest_mpd)

    spotify = sources.add_parser(
        "spotify", help="crawl the Spotify Web API (not for training: see docs/data.md)")
    spotify.add_argument("--out", required=True)
    spotify.add_argument("--name")
    spotify.add_argument("--user", action="append", default=[], metavar="ID",
                         help="crawl this user's public playlists (repeatable)")
    spotify.add_argument("--playlist", action="append", default=[], metavar="ID",
                         help="start from this playlist: id, spotify: URI or URL (repeatable)")
    spotify.add_argument("--max-playlists", type=int, default=50,
                         help="stop after this many playlists (default: 50)")
    spotify.add_argument("--liked", action="store_true",
                         help="also the logged-in user's liked tracks and own playlists (user login)")
    spotify.add_argument("--state", metavar="FILE",
                         help="progress file to resume from (default: OUT.crawl.jsonl beside --out)")
    spotify.set_defaults(func=_run_ingest_spotify)


def _run_ingest_csv(args) -> int:
    from recsys.ingest.csv import ingest_csv

    dataset = ingest_csv(args.file, args.out, args.name)
    counts = dataset.meta["counts"]
    repeated = dataset.meta["input_rows"] - counts["interactions"]
    print(f"{args.file} ({dataset.meta['source']}): {counts['playlists']:,} playlists, "
          f"{counts['tracks']:,} tracks, {counts['artists']:,} artists, "
          f"{counts['interactions']:,} interactions ({repeated:,} repeated rows dropped)")
    print(f"wrote {dataset.path}")
    return 0


def _run_ingest_mpd(args) -> int:
    from recsys.ingest.mpd import ingest_mpd

    result = ingest_mpd(args.slice_dir, args.out, name=args.name, workers=args.workers, limit=args.limit)
    counts = result.meta["counts"]
    print(f"{args.slice_dir}: {len(result.good)} files read, {len(result.bad)} skipped, "
          f"{len(result.bad_playlists)} malformed playlists left out; "
          f"{counts['playlists']:,} playlists, {counts['tracks']:,} tracks, "
          f"{counts['artists']:,} artists, {counts['interactions']:,} interactions")
    for skipped in result.bad:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    for playlist in result.bad_playlists:
        print(f"  left out of {playlist.path}: {playlist.describe()}")
    print(f"wrote {args.out}")
    return 0


def _run_ingest_spotify(args) -> int:
    from recsys.ingest.spotify import crawl_command
    return crawl_command(args)


# -- stats --

def _add_stats(commands) -> None:
    stats = commands.add_parser("stats", help="print a dataset's statistics as JSON")
    stats.add_argument("dataset")
    stats.set_defaults(func=_run_stats)


def _run_stats(args) -> int:
    from recsys.data.dataset import load_dataset
    print(json.dumps(load_dataset(args.dataset).stats(), indent=2))
    return 0


# -- train (recsys/training/cli.py); the last line printed is the published artifact's path --

def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train and publish the default recipe (the hybrid), or one GNN")
    train.add_argument("--dataset", required=True, help="canonical dataset directory")
    train.add_argument("--model", choices=sorted(GNN_MODELS),
                       help="train this GNN alone (default: the hybrid that models/DEFAULT serves)")
    train.add_argument("--out", help=f"models directory to publish into ({MODELS_DIR_HELP})")
    _set_option(train, "over the model's defaults")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--val-playlists", type=int, default=50,
                       help="playlists whose later tracks are held out for early stopping (default: 50)")
    train.add_argument("--checkpoint-dir", help="default: runs/<dataset name>-<model>")
    train.add_argument("--dtype", choices=EMBEDDING_DTYPES, default="float16",
                       help="stored embedding type (default: float16)")
    train.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    train.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from recsys.training.cli import train
    return train(args, parse_settings(args.set))


# -- artifacts (recsys/artifacts.py) --

def _add_artifacts(commands) -> None:
    artifacts = commands.add_parser("artifacts", help="list, verify, promote or prune model versions")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--models-dir", help=f"artifact root ({MODELS_DIR_HELP})")
    actions = artifacts.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[where], help="every version; * marks the current one")
    verify = actions.add_parser("verify", parents=[where], help="check sizes, sha256 and shapes")
    verify.add_argument("targets", nargs="*",
                        help="model names (current version), model/version or paths (default: all)")
    promote = actions.add_parser("promote", parents=[where], help="make a version current")
    promote.add_argument("model")
    promote.add_argument("version")
    prune = actions.add_parser("prune", parents=[where], help="delete old versions (never the current)")
    prune.add_argument("model")
    prune.add_argument("--keep", type=int, default=3, help="newest versions to keep (default: 3)")
    default = actions.add_parser("default", parents=[where], help="set the app's default model")
    default.add_argument("model")
    artifacts.set_defaults(func=_run_artifacts)


def _run_artifacts(args) -> int:
    """``python -m recsys artifacts list | verify | promote | prune | default``: prints what
    ``recsys.artifacts`` returns."""
    from recsys import artifacts

    models_dir = args.models_dir or models_dir_default()
    if args.action == "list":
        rows = artifacts.list_artifacts(models_dir)
        if not rows:
            print(f"no artifacts in {models_dir}")
        default = artifacts.default_model(models_dir)
        for row in rows:
            if "error" in row:
                print(f"  {row['model']}/{row['version']}  ERROR {row['error']}")
                continue
            flags = "*" if row["current"] else " "
            metrics = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row["metrics"].items())
            print(f"{flags} {row['model']}/{row['version']}  {row['rows']}×{row['dim']} {row['dtype']}"
                  f"  {row['created_at']}  {metrics}"
                  + ("  [default model]" if row["current"] and row["model"] == default else ""))
        return 0
    if args.action == "verify":
        targets = args.targets or [f"{r['model']}/{r['version']}" for r in artifacts.list_artifacts(models_dir)]
        failures = 0
        for target in targets:
            try:
                artifact = artifacts.verify(target, models_dir)
            except artifacts.ArtifactError as exc:
                failures += 1
                print(f"FAIL {target}: {exc}")
            else:
                print(f"ok   {artifact.model}/{artifact.version} ({artifact.path})")
        return 1 if failures else 0
    if args.action == "promote":
        print(artifacts.promote(models_dir, args.model, args.version))
        return 0
    if args.action == "prune":
        removed = artifacts.prune(models_dir, args.model, keep=args.keep)
        for path in removed:
            print(f"removed {path}")
        print(f"kept {len(artifacts.versions(models_dir, args.model))} version(s) of {args.model}")
        return 0
    if args.action == "default":
        artifacts.set_default_model(models_dir, args.model)
        print(f"default model: {args.model}")
        return 0
    raise artifacts.ArtifactError(f"unknown artifacts action {args.action!r}")


# -- evaluate (recsys/experiments.py); the last line printed is the report.json path --

def _add_evaluate(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="compare models on held-out playlists; writes report.{md,json} (standard "
        "protocol) and report-cold-track.{md,json}")
    evaluate.add_argument("--dataset", required=True, help="dataset directory")
    evaluate.add_argument("--models", default="popularity,itemknn,itemknn_artist,ease",
                          help="comma-separated baselines, GNNs and hybrid (default: %(default)s)")
    evaluate.add_argument("--out", help="report directory (default: reports/<dataset name>)")
    evaluate.add_argument("--seed", type=int, default=0, help="split seed (default: %(default)s)")
    evaluate.add_argument("--n-test", type=int, default=100, help="test playlists (default: %(default)s)")
    evaluate.add_argument("--n-val", type=int, default=50,
                          help="validation playlists, for tuning and early stopping (default: %(default)s)")
    evaluate.add_argument("--n-seed", type=int, default=10,
                          help="seed tracks per held-out playlist in the cold-track view; the standard "
                               "protocol gives the first half (default: %(default)s)")
    evaluate.add_argument("--k", type=int, default=20, help="cut-off of the @K metrics (default: %(default)s)")
    evaluate.add_argument("--protocol", choices=("standard", "cold-track", "both"), default="both",
                          help="which report(s) to make (default: %(default)s)")
    _set_option(evaluate, "for every GNN")
    evaluate.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from recsys import experiments
    return experiments.run(args, parse_settings(args.set))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_ingest, _add_stats, _add_train, _add_artifacts, _add_evaluate):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (RecsysError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
