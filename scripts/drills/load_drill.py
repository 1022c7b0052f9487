"""Load drill: 50 threads calling ``recommend`` and ``search`` on one shared ``Recommender`` over a
2,262,292-track catalog (the full MPD's size) for 60 seconds.

    python -m scripts.drills.load_drill                       # 50 threads, 60 s, 2.26M tracks
    python -m scripts.drills.load_drill --threads 8 --seconds 10 --tracks 300000

The catalog is benchmarks/serving.py's synthetic one (clustered 64-d float16 embeddings, so the
IVF index is exercised as in production; pseudo-word names for search), published once into
``--models-dir`` and reused. A fixed set of requests (half ``recommend`` with 5 seeds of one
cluster, k=20; half ``search`` of a catalog name with a typo, limit 20) is first answered by one
thread: those answers, and that thread's rate, are the reference. Then every thread picks
requests at random and checks each answer against the reference. Prints throughput,
p50/p99 latency per method, errors and mismatches.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.serving import FULL_MPD_TRACKS, synthetic_catalog, typo

from recsys import artifacts
from recsys.serving import Recommender
from recsys.training.artifact_writer import write_artifact


ROOT = Path(__file__).resolve().parents[2]

def published_catalog(models_dir: Path, n_tracks: int) -> Path:
    """The synthetic artifact of ``n_tracks`` tracks in ``models_dir`` (published on first use)."""
    model = f"synthetic{n_tracks}"
    if artifacts.current_version(models_dir, model):
        return artifacts.resolve(model, models_dir)
    embeddings, catalog, _ = synthetic_catalog(n_tracks)
    path = write_artifact(models_dir, model, embeddings=embeddings, catalog=catalog, curves=None,
                             config={"synthetic": True}, dataset_meta={"name": "synthetic"}, metrics={},
                             projection=np.zeros((n_tracks, 2), dtype=np.float32))
    artifacts.set_default_model(models_dir, model)
    return path


def make_requests(recommender: Recommender, n: int, seed: int = 0) -> list[tuple[str, tuple]]:
    """``n`` requests, half recommend (5 seeds that are each other's neighbours), half search."""
    rng = np.random.default_rng(seed)
    ids = recommender.catalog["track_id"].to_numpy()
    names = recommender.catalog["name"].to_numpy()
    requests = []
    for i in range(n):
        anchor = int(rng.integers(len(ids)))
        if i % 2 == 0:
            neighbours = recommender.similar(ids[anchor], k=4)["track_id"].tolist()
            requests.append(("recommend", ([ids[anchor], *neighbours],)))
        else:
            requests.append(("search", (typo(str(names[anchor]), rng),)))
    return requests


def answer(recommender: Recommender, method: str, args: tuple) -> list[str]:
    if method == "recommend":
        return recommender.recommend(*args, k=20).track_ids
    return recommender.search(*args, limit=20)["track_id"].tolist()


def run_load(recommender: Recommender, requests, expected, threads: int, seconds: float, seed: int = 0) -> dict:
    latencies, errors, mismatches = defaultdict(list), [], []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(number: int) -> None:
        rng = np.random.default_rng([seed, number])
        mine = defaultdict(list)
        while time.perf_counter() < deadline:
            i = int(rng.integers(len(requests)))
            method, args = requests[i]
            began = time.perf_counter()
            try:
                got = answer(recommender, method, args)
            except Exception as exc:  # the drill counts every failure, whatever its type
                with lock:
                    errors.append(f"{method}{args}: {type(exc).__name__}: {exc}")
                continue
            mine[method].append(time.perf_counter() - began)
            if got != expected[i]:
                with lock:
                    mismatches.append((method, args))
        with lock:
            for method, values in mine.items():
                latencies[method].extend(values)

    began = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"seconds": time.perf_counter() - began, "latencies": latencies, "errors": errors,
            "mismatches": mismatches}


def percentiles_ms(values) -> str:
    ms = np.asarray(values) * 1e3
    return f"p50 {np.percentile(ms, 50):7.1f} ms  p99 {np.percentile(ms, 99):7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--tracks", type=int, default=FULL_MPD_TRACKS)
    parser.add_argument("--requests", type=int, default=400, help="distinct requests (default: 400)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "benchmarks" / "out" / "load-drill" / "models")
    args = parser.parse_args()

    began = time.perf_counter()
    path = published_catalog(args.models_dir, args.tracks)
    recommender = Recommender.load(path)
    print(f"{args.tracks:,} tracks, {recommender.index.kind} index; artifact ready and loaded in "
          f"{time.perf_counter() - began:.0f} s ({path})")
    requests = make_requests(recommender, args.requests)
    answer(recommender, "search", ("warm up",))  # builds or loads the search index

    reference, single = [], defaultdict(list)
    began = time.perf_counter()
    for method, call in requests:
        started = time.perf_counter()
        reference.append(answer(recommender, method, call))
        single[method].append(time.perf_counter() - started)
    single_rate = len(requests) / (time.perf_counter() - began)
    print(f"1 thread, {len(requests)} requests once: {single_rate:.0f} requests/s")
    for method, values in sorted(single.items()):
        print(f"  {method:<10} {percentiles_ms(values)}")

    result = run_load(recommender, requests, reference, args.threads, args.seconds)
    calls = sum(len(v) for v in result["latencies"].values())
    print(f"{args.threads} threads for {result['seconds']:.0f} s: {calls:,} requests, "
          f"{calls / result['seconds']:.0f} requests/s ({calls / result['seconds'] / single_rate:.2f}× one thread)")
    for method, values in sorted(result["latencies"].items()):
        print(f"  {method:<10} {len(values):7,} calls  {percentiles_ms(values)}")
    print(f"errors: {len(result['errors'])}" + (f" (first: {result['errors'][0]})" if result["errors"] else ""))
    print(f"answers different from the single-threaded ones: {len(result['mismatches'])}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (above 0: other work shared them)")
    passed = not result["errors"] and not result["mismatches"] and calls > 0
    print("DRILL PASSED" if passed else "DRILL FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
