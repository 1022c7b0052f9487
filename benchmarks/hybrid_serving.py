"""Latency of the served hybrid (models/DEFAULT) against its GNN served alone (models/lightgcn:
embeddings, no neighbourhoods), measured in the same run on the same seed lists.

    python -m benchmarks.hybrid_serving [--requests 2000] [--models-dir models]

Prints p50/p99 milliseconds of ``Recommender.recommend`` (k=20 and k=500, 1-10 random seeds) for
both, their ratio, and the neighbourhood storage per track.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from recsys.serving.recommender import Recommender


def timings(rec: Recommender, seed_lists, k: int) -> np.ndarray:
    out = []
    for seeds in seed_lists:
        began = time.perf_counter()
        rec.recommend(seeds, k=k)
        out.append(time.perf_counter() - began)
    return 1000 * np.asarray(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--models-dir", help="default: $RECSYS_MODELS_DIR, else the repository's models/")
    args = parser.parse_args()
    hybrid = Recommender.load(None, models_dir=args.models_dir)
    embedding_only = Recommender.load("lightgcn", models_dir=args.models_dir)
    rng = np.random.default_rng(0)
    ids = hybrid.catalog["track_id"].to_numpy()
    seed_lists = [list(rng.choice(ids, size=rng.integers(1, 11), replace=False)) for _ in range(args.requests)]
    print(f"{hybrid.model}/{hybrid.version}: {len(ids):,} tracks, {hybrid.index.kind} index; "
          f"load average {os.getloadavg()[0]:.2f}")
    for k in (20, 500):
        timings(hybrid, seed_lists[:50], k)  # warm-up
        h, e = timings(hybrid, seed_lists, k), timings(embedding_only, seed_lists, k)
        print(f"k={k:3d}  hybrid p50 {np.percentile(h, 50):.2f} ms  p99 {np.percentile(h, 99):.2f} ms | "
              f"embedding only p50 {np.percentile(e, 50):.2f} ms  p99 {np.percentile(e, 99):.2f} ms | "
              f"p99 ratio {np.percentile(h, 99) / np.percentile(e, 99):.1f}x")
    arrays = hybrid.artifact.arrays
    stored = sum(a.nbytes for name, a in arrays.items() if name.startswith("neighbour"))
    print(f"item neighbourhoods: {arrays['neighbours'].shape[1]} per track, "
          f"{stored / len(ids):.0f} bytes per track ({stored / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
