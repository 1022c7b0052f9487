"""Write synthetic Million Playlist Dataset slices (their structure: recsys/ingest/synthetic_mpd.py).

    python -m scripts.make_synthetic_mpd data/synthetic_mpd --slices 20
    python -m recsys ingest mpd data/synthetic_mpd --out data/processed/synthetic_mpd
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from recsys.ingest.synthetic_mpd import write_synthetic_mpd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--playlists-per-slice", type=int, default=1000)
    parser.add_argument("--tracks", type=int, default=100_000, help="catalog size")
    parser.add_argument("--genres", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    paths = write_synthetic_mpd(args.out_dir, args.slices, args.playlists_per_slice,
                                n_tracks=args.tracks, n_genres=args.genres, seed=args.seed)
    size = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} slices ({size / 1e6:,.0f} MB) to {args.out_dir} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
