"""``python -m recsys``: the public command line (documented in README.md; keep it stable).

Each sub-command's handler lives beside the code it drives and is imported only when that
command runs, so ``python -m recsys stats`` never pays for importing torch.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from recsys.errors import RecsysError


def _handler(path: str):
    """Resolve 'package.module:function' lazily."""
    def run(args):
        module, func = path.split(":")
        return getattr(importlib.import_module(module), func)(args)
    return run


def _stats(args) -> int:
    from recsys.dataset import load_dataset
    print(json.dumps(load_dataset(args.dataset).stats(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="turn a raw source into a canonical dataset")
    sources = ingest.add_subparsers(dest="source", required=True)

    csv = sources.add_parser("csv", help="spotify_songs.csv or the TidyTuesday schema")
    csv.add_argument("file")
    csv.add_argument("--out", required=True, help="dataset directory to write")
    csv.add_argument("--name", help="dataset name (default: the --out directory's name)")
    csv.set_defaults(func=_handler("recsys.ingest.csv:run"))

    mpd = sources.add_parser("mpd", help="Million Playlist Dataset slices or the challenge set")
    mpd.add_argument("slice_dir")
    mpd.add_argument("--out", required=True)
    mpd.add_argument("--name")
    mpd.add_argument("--workers", type=int, default=None, help="parser processes (default: all cores)")
    mpd.add_argument("--limit", type=int, default=None, help="read at most this many slice files")
    mpd.set_defaults(func=_handler("recsys.ingest.mpd:run"))

    spotify = sources.add_parser(
        "spotify", help="crawl the Spotify Web API (not for training: see README)")
    spotify.add_argument("--out", required=True)
    spotify.add_argument("--name")
    spotify.set_defaults(func=_handler("recsys.ingest.spotify:run"))

    stats = commands.add_parser("stats", help="print a dataset's statistics as JSON")
    stats.add_argument("dataset")
    stats.set_defaults(func=_stats)
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
