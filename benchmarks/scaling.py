"""Scaling measurements behind docs/scaling.md: ingest, graph and table sizes, LightGCN step
time, the extrapolation to 100k / 300k / 1M playlists, DDP, and serving index memory.

    python -m benchmarks.scaling                 # everything (about 10 minutes on 2 cores)
    python -m benchmarks.scaling --parts train   # one part: ingest, train, ddp, index

Synthetic MPD slices (recsys.ingest.synthetic_mpd) drawn from a 2,262,292-track catalog (the full
MPD's count) are written once to benchmarks/out/scaling/ and ingested at 4, 8 and 16 slices
(1,000 playlists each). Every figure printed is measured in this run, except the MPD's published
totals (MPD_*), which anchor the extrapolation; each extrapolated figure says how it was made.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# The Million Playlist Dataset's published totals (its stats.txt / README).
MPD_PLAYLISTS = 1_000_000
MPD_TRACKS = 2_262_292
MPD_ARTISTS = 295_860
MPD_ALBUMS = 734_684
MPD_INTERACTIONS = 66_346_428
TARGETS = (100_000, 300_000, 1_000_000)
SLICES = (4, 8, 16)
DIM = 64
OUT = ROOT / "benchmarks" / "out" / "scaling"
# GPU memory bandwidth (vendor figures) and the share a sparse product reaches (an assumption,
# stated in docs/scaling.md): used to turn CPU sparse-product times into GPU estimates.
GPUS = {"T4": 320e9, "A100 40GB": 1555e9}
SPMM_BANDWIDTH_SHARE = 0.4


def header(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def slices_dir() -> Path:
    directory = OUT / "slices"
    if len(list(directory.glob("mpd.slice.*.json"))) < max(SLICES):
        # In a child process: the 2.26M-track catalog would otherwise stay in this one, and the
        # ingest measurements' peak memory (ru_maxrss) counts the parent's size at fork.
        subprocess.run([sys.executable, "-m", "scripts.make_synthetic_mpd", directory,
                        "--slices", str(max(SLICES)), "--tracks", str(MPD_TRACKS)], check=True, cwd=ROOT)
    return directory


def dataset_dir(n_slices: int) -> Path:
    from recsys.ingest.mpd import ingest_mpd

    out = OUT / f"dataset-{n_slices}"
    if not (out / "dataset.json").is_file():
        ingest_mpd(slices_dir(), out, limit=n_slices, name=f"synthetic-{n_slices}")
    return out


def graph_counts(dataset) -> dict:
    from recsys.data.graph import side_blocks

    side = side_blocks(dataset.tracks, ("artist_id", "album_id"), min_tracks=2)
    return {"playlists": dataset.n_playlists, "tracks": dataset.n_tracks, "interactions": len(dataset.interactions),
            "side_nodes": sum(b.shape[1] for b in side), "side_edges": sum(b.nnz for b in side)}


# ------------------------------------------------------------------------------------------ ingest

def part_ingest() -> None:
    from benchmarks.ingest import in_child  #: one measured ingest in a fresh process

    header("ingest (python -m recsys ingest mpd, 2 workers, fresh process each)")
    directory = slices_dir()
    print(f"{'slices':>6} {'playlists':>9} {'MB JSON':>8} {'seconds':>8} {'CPU s':>6} {'peak RSS main':>14} "
          f"{'largest worker':>15} {'tracks':>9}")
    rows = []
    for n in SLICES:
        r = in_child("ingest", directory, 2, n)
        from recsys.data.dataset import load_dataset
        tracks = load_dataset(dataset_dir(n)).n_tracks
        rows.append((n, r, tracks))
        print(f"{n:>6} {n * 1000:>9,} {r['bytes'] / 1e6:>8,.0f} {r['seconds']:>8.1f} {r['cpu_seconds']:>6.1f} "
              f"{r['rss_main_mb']:>11,.0f} MB {r['rss_worker_mb']:>12,.0f} MB {tracks:>9,}")
    (n0, r0, _), (n1, r1, _) = rows[0], rows[-1]
    cpu_per_slice = (r1["cpu_seconds"] - r0["cpu_seconds"]) / (n1 - n0)
    wall_per_slice = (r1["seconds"] - r0["seconds"]) / (n1 - n0)
    mb_per_slice = r1["bytes"] / n1 / 1e6
    # The main process holds one dict entry per distinct track URI: memory grows with tracks.
    mb_per_track = (r1["rss_main_mb"] - r0["rss_main_mb"]) / (rows[-1][2] - rows[0][2])
    print(f"marginal per slice: {cpu_per_slice:.2f} CPU s, {wall_per_slice:.2f} s wall, {mb_per_slice:.1f} MB JSON; "
          f"main-process memory per distinct track {mb_per_track * 1e6:,.0f} B")
    beta = heaps_beta([n * 1000 for n, _, _ in rows], [t for _, _, t in rows])
    for target in TARGETS:
        n = target // 1000
        tracks = extrapolated_graph(target, beta)["tracks"]
        memory = r1["rss_main_mb"] + (tracks - rows[-1][2]) * mb_per_track
        print(f"  extrapolated {target:>9,} playlists ({n:,} slices, {n * mb_per_slice / 1e3:,.1f} GB JSON): "
              f"{n * cpu_per_slice / 60:,.1f} CPU min, {n * wall_per_slice / 60:,.1f} min wall at this run's pace; "
              f"main process ~{memory / 1e3:,.1f} GB at ~{tracks / 1e6:.2f}M tracks")
    print("  (time linear in slices: each slice is decoded and appended on its own; memory linear in distinct "
          f"tracks, tracks from Heaps' law: ∝ playlists^{beta:.2f} fitted here, anchored at the MPD's 2,262,292)")
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine was shared)")


# ------------------------------------------------------------------------------------------ train

def step_times(dataset, steps: int = 6) -> dict:
    """Median seconds of one trainer step, split into the batch (numpy on the CPU: holdout mask,
    seeds, negatives), drawing the step's message graph (torch, on the training device) and
    LightGCN's forward + backward + Adam; plus one propagation product over the whole graph."""
    import torch

    from recsys.data.graph import interaction_matrix, side_blocks
    from recsys.models.lightgcn import LightGCN
    from recsys.training.sampling import ContinuationSampler, GraphBuilder
    from recsys.training.trainer import TrainConfig

    config = TrainConfig()
    torch.set_num_threads(config.cpu_threads)  # as the trainer does
    torch.manual_seed(0)
    R = interaction_matrix(dataset)
    side = side_blocks(dataset.tracks, config.side_nodes, min_tracks=config.side_min_tracks)
    builder = GraphBuilder(side, None, LightGCN.graph_inputs, torch.device("cpu"), dataset.n_playlists, dataset.n_tracks)
    began = time.perf_counter()
    sampler = ContinuationSampler(R, builder, np.random.default_rng(0), holdout=config.holdout,
                                  batch_size=config.batch_size, max_seeds=config.max_seeds, negatives=config.negatives)
    prebuild = time.perf_counter() - began
    model = LightGCN(builder.num_nodes, DIM, config.num_layers, config.temperature)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    visible = np.random.default_rng(1).random(R.nnz) >= config.holdout
    sample, draw, compute, spmm = [], [], [], []
    for _ in range(steps):
        began = time.perf_counter()
        graph, batch = sampler.sample()
        sample.append(time.perf_counter() - began)
        began = time.perf_counter()
        sampler.graphs.draw(visible)
        draw.append(time.perf_counter() - began)
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model.loss(graph, batch).backward()
        optimizer.step()
        compute.append(time.perf_counter() - began)
        began = time.perf_counter()
        graph.adjacency.mm(model.embedding.weight)
        spmm.append(time.perf_counter() - began)
    draw_median = statistics.median(draw)
    return {"batch": max(statistics.median(sample) - draw_median, 0.0), "draw": draw_median,
            "compute": statistics.median(compute), "spmm": statistics.median(spmm), "prebuild": prebuild,
            "nnz": graph.adjacency.nnz, "nodes": builder.num_nodes,
            # full-graph products per step: L - 1 forward and L - 1 backward (the last layer and the
            # first backward product only touch the batch's rows: recsys.models.common)
            "products": 2 * (config.num_layers - 1)}


def spmm_bytes(nnz: int, nodes: int) -> float:
    """Bytes one CSR × dense product moves: index + value per non-zero, one gathered d-row of
    float32 per non-zero, one written d-row per node."""
    return nnz * (4 + 4) + nnz * DIM * 4 + nodes * DIM * 4


def heaps_beta(playlists, tracks) -> float:
    """β of Heaps' law, distinct tracks ∝ playlists^β, fitted in log-log space."""
    return float(np.polyfit(np.log(playlists), np.log(tracks), 1)[0])


def extrapolated_graph(playlists: int, heaps_beta: float) -> dict:
    """Counts at ``playlists``: interactions linear at the MPD's mean length; tracks by Heaps'
    law T = K·P^β with β fitted on the synthetic slices and K set so 1M playlists give the MPD's
    2,262,292 tracks; artists and albums in the MPD's ratio to tracks."""
    tracks = MPD_TRACKS * (playlists / MPD_PLAYLISTS) ** heaps_beta
    return {"playlists": playlists, "interactions": MPD_INTERACTIONS * playlists / MPD_PLAYLISTS, "tracks": tracks,
            "artists": MPD_ARTISTS * tracks / MPD_TRACKS, "albums": MPD_ALBUMS * tracks / MPD_TRACKS}


def part_train() -> None:
    from recsys.data.dataset import load_dataset

    header(f"LightGCN training step (trainer defaults: dim {DIM}, 2 layers, batch 1024, 32 negatives, "
           "artist + album nodes; 1 process, CPU)")
    print(f"{'playlists':>9} {'tracks':>9} {'edges (A nnz)':>13} {'nodes':>9} {'prebuild':>8} {'batch':>6} "
          f"{'draw graph':>10} {'fwd+bwd+Adam':>12} {'1 product':>9} {'GB/s':>5}")
    measured = []
    for n in SLICES:
        dataset = load_dataset(dataset_dir(n))
        t = step_times(dataset)
        measured.append((graph_counts(dataset), t))
        bandwidth = spmm_bytes(t["nnz"], t["nodes"]) / t["spmm"] / 1e9
        print(f"{dataset.n_playlists:>9,} {dataset.n_tracks:>9,} {t['nnz']:>13,} {t['nodes']:>9,} {t['prebuild']:>7.1f}s "
              f"{t['batch']:>5.2f}s {t['draw']:>9.2f}s {t['compute']:>11.2f}s {t['spmm']:>8.3f}s {bandwidth:>5.2f}")
    beta = heaps_beta([c["playlists"] for c, _ in measured], [c["tracks"] for c, _ in measured])
    big_counts, big = measured[-1]
    # Per-edge costs from the largest run: the batch is linear in interactions (the holdout mask),
    # drawing the graph in stored entries (masking, scatter-add, gathers); forward + backward are
    # full-graph products (entries) plus the rest (Adam and the batch rows' products), charged per
    # node, which overstates it at scale: the batch rows' share does not grow with the graph.
    batch_per_interaction = big["batch"] / big_counts["interactions"]
    draw_per_edge = big["draw"] / big["nnz"]
    product_per_edge = big["spmm"] / big["nnz"]
    dense_per_node = max(big["compute"] - big["products"] * big["spmm"], 0.0) / big["nodes"]
    cpu_bandwidth = spmm_bytes(big["nnz"], big["nodes"]) / big["spmm"]
    print(f"Heaps' law fitted on the slices: tracks ∝ playlists^{beta:.2f}; "
          f"per-step costs from the largest run: batch {batch_per_interaction * 1e9:.0f} ns/interaction, "
          f"draw {draw_per_edge * 1e9:.0f} ns/edge, product {product_per_edge * 1e9:.0f} ns/edge, "
          f"rest {dense_per_node * 1e9:.0f} ns/node; this CPU's product moves {cpu_bandwidth / 1e9:.2f} GB/s")

    header("extrapolated to the MPD (one process; trainer epoch = 40 steps of 1,024 positives)")
    print(f"{'playlists':>9} {'tracks':>10} {'interactions':>12} {'nodes':>10} {'A nnz':>12} {'A MB':>6} "
          f"{'table GB':>8} {'+Adam GB':>8} {'artifact MB':>11} {'CPU s/step':>10} {'CPU h/epoch':>11} "
          + " ".join(f"{name + ' s/step (GPU part)':>28}" for name in GPUS))
    for playlists in TARGETS:
        g = extrapolated_graph(playlists, beta)
        nodes = g["playlists"] + g["tracks"] + g["artists"] + g["albums"]
        # Symmetric adjacency: each playlist-track, track-artist and track-album edge twice.
        nnz = 2 * (g["interactions"] + 2 * g["tracks"])
        cpu_batch = g["interactions"] * batch_per_interaction
        cpu_step = cpu_batch + nnz * (draw_per_edge + big["products"] * product_per_edge) + nodes * dense_per_node
        table = nodes * DIM * 4
        gpu_steps = []
        for bandwidth in GPUS.values():
            gpu_products = big["products"] * spmm_bytes(nnz, nodes) / (SPMM_BANDWIDTH_SHARE * bandwidth)
            # The batch stays on the CPU in the CUDA path; drawing the graph and the rest run on the
            # GPU and are scaled like the products (bandwidth-bound too: gathers, elementwise ops).
            speedup = cpu_bandwidth / (SPMM_BANDWIDTH_SHARE * bandwidth)
            gpu_part = gpu_products + (nnz * draw_per_edge + nodes * dense_per_node) * speedup
            gpu_steps.append(f"{cpu_batch + gpu_part:.2f} ({gpu_part:.2f})")
        print(f"{playlists:>9,} {g['tracks']:>10,.0f} {g['interactions']:>12,.0f} {nodes:>10,.0f} {nnz:>12,.0f} "
              f"{nnz * 8 / 1e6:>6,.0f} {table / 1e9:>8.2f} {3 * table / 1e9:>8.2f} "
              f"{g['tracks'] * DIM * 2 / 1e6:>11,.0f} {cpu_step:>10.1f} {40 * cpu_step / 3600:>11.2f} "
              + " ".join(f"{s:>28}" for s in gpu_steps))
    print("table GB = float32 node embeddings; +Adam = with Adam's two moment tensors; A MB = the step's "
          "CSR matrix (4-byte index + 4-byte value per non-zero); artifact MB = float16 track embeddings; "
          f"GPU s/step = the CPU batch + (in brackets) the GPU part: graph drawing, products and the rest at "
          f"{SPMM_BANDWIDTH_SHARE:.0%} of the GPU's memory bandwidth; a DDP step also all-reduces "
          "the dense embedding gradient, table GB per step")
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine was shared)")


# ------------------------------------------------------------------------------------------ DDP

def part_ddp(n_slices: int = 4, steps: int = 24, epochs: int = 2) -> None:
    """Wall seconds per trainer epoch, 1 process against torchrun with 2 (gloo, CPU). Each run is
    stopped once its checkpoint holds the last epoch: publishing (a t-SNE map of every track) is
    not what is compared."""
    import signal

    from recsys.data.dataset import load_dataset
    from recsys.training.checkpoint import LAST, load_checkpoint

    header(f"DDP on this machine: seconds per epoch of {steps} steps, {n_slices}k playlists")
    dataset = dataset_dir(n_slices)
    args = ["train", "--dataset", dataset, "--model", "lightgcn", "--set", f"epochs={epochs}",
            "--set", f"patience={epochs}", "--set", f"steps_per_epoch={steps}", "--val-playlists", 50, "--quiet"]
    torchrun = Path(sys.executable).with_name("torchrun")
    for label, launcher in (("1 process", [sys.executable, "-m", "recsys"]),
                            ("torchrun, 2 processes", [torchrun, "--standalone", "--nproc-per-node", 2, "-m", "recsys"])):
        with tempfile.TemporaryDirectory() as tmp:
            checkpoints = Path(tmp) / "c"
            command = [str(a) for a in [*launcher, *args, "--out", Path(tmp) / "m", "--checkpoint-dir", checkpoints]]
            began = time.perf_counter()
            run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
            state = None
            while state is None or int(state["run"]["epoch"]) < epochs:
                if run.poll() is not None:
                    raise RuntimeError(f"{label}: training exited with {run.returncode}: {' '.join(command)}")
                time.sleep(1)
                state = load_checkpoint(checkpoints) if (checkpoints / LAST).exists() else None
            wall = time.perf_counter() - began
            os.killpg(run.pid, signal.SIGTERM)  # torchrun and its ranks share the new session
            run.wait()
            seconds = [row["seconds"] for row in json.loads(state["run"]["curves"])]
            print(f"  {label:<22} epoch seconds {', '.join(f'{s:.1f}' for s in seconds)}  "
                  f"({wall:.0f} s from start to the last checkpoint, start-up included)")
    counts = graph_counts(load_dataset(dataset))
    nodes = counts["playlists"] + counts["tracks"] + counts["side_nodes"]
    print(f"  gradient all-reduced per step: {nodes:,} nodes × {DIM} × 4 B = {nodes * DIM * 4 / 1e6:,.0f} MB "
          "(LightGCN's embedding gradient is dense: propagation touches every node)")
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine was shared)")


# ------------------------------------------------------------------------------------------ index

def part_index(n: int = 200_000) -> None:
    """Bytes per track of each faiss index kind, measured by serialising a built index."""
    import faiss

    header(f"serving index memory per track (faiss, {DIM}-d, built on {n:,} clustered vectors)")
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((n // 200, DIM), dtype=np.float32)
    vectors = centres[rng.integers(len(centres), size=n)] + 0.9 * rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kinds = {"Flat (exact)": "Flat", "IVF-Flat (today's index)": "IVF1024,Flat",
             "IVF-SQ fp16": "IVF1024,SQfp16", "IVF-PQ 16 B": "IVF1024,PQ16"}
    budget = 32e9 * 0.5  # half of a 32 GB machine: the rest is the catalog, search index, app
    for label, spec in kinds.items():
        index = faiss.index_factory(DIM, spec, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:50_000])
        index.add(vectors)
        per_track = len(faiss.serialize_index(index)) / n
        print(f"  {label:<26} {per_track:7.1f} B/track  {MPD_TRACKS * per_track / 1e9:6.2f} GB at {MPD_TRACKS:,}  "
              f"fits {budget / per_track / 1e6:8,.0f} M tracks in 16 GB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ingest,train,ddp,index")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (shared with other work)")
    parts = {"ingest": part_ingest, "train": part_train, "ddp": part_ddp, "index": part_index}
    for name in args.parts.split(","):
        parts[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
