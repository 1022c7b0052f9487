"""MPD ingest throughput against a plain ``json.load`` loop over the same files, in the same run.

    python -m benchmarks.ingest [--slices 24] [--playlists 1000] [--workers 2] [--repeat 2]

Writes synthetic MPD slices (``recsys.ingest.synthetic_mpd``) to a temporary directory, reads them
once so every measurement starts from a warm page cache, then runs each measurement ``--repeat``
times in a fresh child process and keeps the fastest:

- ``json.load`` loop: one process, the stdlib parser, nothing else (the reference);
- msgspec typed decode loop: one process, decode only (for context);
- ``ingest mpd`` end to end: parse every track field, map URIs to dense ids, write Parquet;
  once over all slices and once over half of them, to show peak memory does not grow with slices.

CPU s is user + system time of the process and its workers: the work done, whatever else shares
the machine. Peak memory is ``ru_maxrss`` of the measuring process and of its largest worker (the
kernel reports the maximum over children, not their sum: main + workers x largest bounds the total).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(kind: str, slice_dir: Path, workers: int, limit: int | None) -> dict:
    """Run one measurement in this process; returns seconds, bytes and peak RSS (MB)."""
    from recsys.ingest.mpd import MpdSlice, ingest_mpd, mpd_files

    files = mpd_files(slice_dir, limit)
    n_bytes = sum(f.stat().st_size for f in files)
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    if kind == "json":
        for f in files:
            with open(f, "rb") as fh:
                json.load(fh)
    elif kind == "msgspec":
        import msgspec
        decoder = msgspec.json.Decoder(MpdSlice)
        for f in files:
            decoder.decode(f.read_bytes())
    else:
        with tempfile.TemporaryDirectory() as out:
            ingest_mpd(slice_dir, Path(out) / "dataset", workers=workers, limit=limit)
    seconds = time.perf_counter() - start
    kb = 1024  # ru_maxrss is in KiB on Linux
    return {"seconds": seconds, "bytes": n_bytes, "cpu_seconds": _cpu_seconds() - cpu_before,
            "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kb,
            "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kb}


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def in_child(kind: str, slice_dir: Path, workers: int, limit: int | None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.ingest", "--measure", kind, "--dir", str(slice_dir),
           "--workers", str(workers)]
    if limit:
        cmd += ["--limit", str(limit)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--playlists", type=int, default=1000, help="playlists per slice")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--measure", choices=("json", "msgspec", "ingest"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.dir, args.workers, args.limit)))
        return

    from recsys.ingest.synthetic_mpd import write_synthetic_mpd

    tmp = Path(tempfile.mkdtemp(prefix="bench-mpd-"))
    try:
        started = time.perf_counter()
        paths = write_synthetic_mpd(tmp, args.slices, playlists_per_slice=args.playlists)
        generated = time.perf_counter() - started
        total = sum(len(p.read_bytes()) for p in paths)  # also warms the page cache
        print(f"{args.slices} synthetic slices x {args.playlists} playlists: {total / 1e6:,.1f} MB of JSON "
              f"(written in {generated:.1f} s); {args.workers} workers, {os.cpu_count()} cores, "
              f"best of {args.repeat}; load average before: {os.getloadavg()[0]:.1f}\n")
        half = max(1, args.slices // 2)
        rows = [
            ("json.load loop, 1 process", "json", None),
            ("msgspec typed decode, 1 process", "msgspec", None),
            (f"ingest mpd end to end, {half} slices", "ingest", half),
            (f"ingest mpd end to end, {args.slices} slices", "ingest", None),
        ]
        results = {}
        for label, kind, limit in rows:
            runs = [in_child(kind, tmp, args.workers, limit) for _ in range(args.repeat)]
            results[label] = min(runs, key=lambda r: r["seconds"])
        reference = results[rows[0][0]]
        reference_mbps = reference["bytes"] / reference["seconds"] / 1e6
        header = (f"{'measurement':<36} {'MB':>5} {'seconds':>8} {'MB/s':>6} {'x json':>7} {'CPU s':>6} "
                  f"{'MB/CPU s':>9} {'peak RSS main':>14} {'largest worker':>15}")
        print(header)
        print("-" * len(header))
        for label, r in results.items():
            mbps = r["bytes"] / r["seconds"] / 1e6
            worker = f"{r['rss_worker_mb']:,.0f} MB" if r["rss_worker_mb"] else "-"
            print(f"{label:<36} {r['bytes'] / 1e6:>5,.0f} {r['seconds']:>8.2f} {mbps:>6,.0f} "
                  f"{mbps / reference_mbps:>6.2f}x {r['cpu_seconds']:>6.2f} {r['bytes'] / 1e6 / r['cpu_seconds']:>9,.0f} "
                  f"{r['rss_main_mb']:>11,.0f} MB {worker:>15}")
        print(f"\nload average after: {os.getloadavg()[0]:.1f} (a figure above 0 means other work shared the cores)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
