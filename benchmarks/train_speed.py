"""Time per LightGCN training step: recsys's LightGCN against torch_geometric's, same run.

Both models get the same synthetic MPD-like graph (recsys.ingest.synthetic_mpd, ingested like real
slices), the same initial weights, embedding size, layers, batches, BPR loss and Adam; only the
propagation differs (one symmetric torch CSR product per layer with its own backward, the last
layer's restricted to the rows the loss reads, against PyG's message passing over every node). "recsys, all rows" is ours embedding every node, as PyG does,
to show what the row restriction adds. Each run restarts from the same weights; the step time of
a run is the median of its steps after the first, and the figures printed are the medians over
the runs. Then the validation Recall@20 / NDCG@20 of each after the same steps (scored as serving
scores: mean of the seeds' normalised embeddings), and the load average (the machine is shared).

    python -m benchmarks.train_speed            # ~0.66M and ~6.6M edges (10 and 100 slices)
    python -m benchmarks.train_speed --quick    # ~0.66M edges only, fewer steps
    python -m benchmarks.train_speed --profile  # torch.profiler table of our step at ~6.6M edges
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from torch_geometric.nn.models import LightGCN as PyGLightGCN

from recsys.data.dataset import load_dataset
from recsys.data.graph import interaction_matrix, normalized_adjacency
from recsys.data.splits import continuation_split
from recsys.evaluation import EmbeddingScorer, evaluate
from recsys.ingest.mpd import ingest_mpd
from recsys.ingest.synthetic_mpd import write_synthetic_mpd
from recsys.models.common import GraphTensors, SymmetricAdjacency
from recsys.models.lightgcn import LightGCN


ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def synthetic_dataset(n_slices: int):
    """A synthetic MPD of ``n_slices`` × 1,000 playlists, written and ingested once (cached)."""
    data = OUT / f"train-speed-{n_slices}"
    if not (data / "dataset.json").exists():
        slices = OUT / f"train-speed-{n_slices}-slices"
        write_synthetic_mpd(slices, n_slices, seed=0)
        ingest_mpd(slices, data)
        shutil.rmtree(slices)  # 31 MB of JSON a slice; the ingested dataset is all we read again
    return load_dataset(data)


def bpr_step(embed, optimizer, n_playlists, batch) -> float:
    """One classic LightGCN step: BPR on playlist · track inner products. ``embed(rows)`` gives
    the embeddings of the node ids ``rows``."""
    playlists, positives, negatives = batch
    optimizer.zero_grad(set_to_none=True)
    began = time.perf_counter()
    rows = torch.cat([playlists, n_playlists + positives, n_playlists + negatives])
    user, pos, neg = embed(rows).split(len(playlists))
    loss = -F.logsigmoid((user * pos).sum(-1) - (user * neg).sum(-1)).mean()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - began


def setup(n_slices: int, steps: int, dim: int, layers: int, batch_size: int):
    """The dataset, its validation split, our graph, PyG's edge list, both models (same weights)
    and ``steps`` batches."""
    ds = synthetic_dataset(n_slices)
    split = continuation_split(ds, n_test=0, n_val=200, seed=0)
    R = interaction_matrix(split.train, ds.n_playlists, ds.n_tracks)
    A = normalized_adjacency(R)
    coo = A.tocoo()
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    graph = GraphTensors(ds.n_playlists, ds.n_tracks, A.shape[0], adjacency=SymmetricAdjacency(A))
    torch.manual_seed(0)
    ours = LightGCN(A.shape[0], dim, layers)
    theirs = PyGLightGCN(A.shape[0], dim, layers)
    theirs.embedding.weight.data.copy_(ours.embedding.weight.data)
    rows, cols = R.nonzero()
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(steps):
        picked = rng.integers(len(rows), size=batch_size)
        batches.append(tuple(torch.from_numpy(a.astype(np.int64)) for a in
                             (rows[picked], cols[picked], rng.integers(ds.n_tracks, size=batch_size))))
    return ds, split, R, graph, edge_index, ours, theirs, batches


def compare(n_slices: int, steps: int, runs: int, dim: int, layers: int, batch_size: int) -> dict:
    ds, split, R, graph, edge_index, ours, theirs, batches = setup(n_slices, steps, dim, layers, batch_size)
    initial = ours.embedding.weight.detach().clone()
    contenders = (("recsys", ours, lambda rows: ours(graph, rows)),
                  ("recsys, all rows", ours, lambda rows: ours(graph)[rows]),
                  ("pyg", theirs, lambda rows: theirs.get_embedding(edge_index)[rows]))
    per_run = {name: [] for name, _, _ in contenders}
    result = {"slices": n_slices, "edges": int(R.nnz), "nodes": int(graph.num_nodes)}
    for run in range(runs):
        for name, model, embed in contenders:
            model.embedding.weight.data.copy_(initial)
            optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
            times = [bpr_step(embed, optimizer, ds.n_playlists, b) for b in batches]
            per_run[name].append(statistics.median(times[1:]))
        print(f"  run {run + 1}: " + ", ".join(f"{name} {t[-1] * 1000:,.0f} ms/step" for name, t in per_run.items())
              + f"; ratio PyG / recsys {per_run['pyg'][-1] / per_run['recsys'][-1]:.1f}x", flush=True)
    for name, model, _ in contenders:  # each model's weights are those of its last run
        if name == "recsys, all rows":
            continue  # the same weights as "recsys" (the same function, same steps)
        with torch.no_grad():
            tracks = (ours(graph) if model is ours else theirs.get_embedding(edge_index))[graph.track_rows].numpy()
        val = evaluate(EmbeddingScorer(tracks), split.val)
        result[name] = {"val_recall@20": val["recall_at_k"], "val_ndcg@20": val["ndcg_at_k"]}
    for name, times in per_run.items():
        median = statistics.median(times)
        result.setdefault(name, {})["seconds_per_step"] = median
        scores = (f"val Recall@20 {result[name]['val_recall@20']:.4f}  NDCG@20 {result[name]['val_ndcg@20']:.4f}"
                  if "val_ndcg@20" in result[name] else "")
        print(f"  {name:17s} {median * 1000:9,.1f} ms/step (median of {runs} runs)   {scores}", flush=True)
    result["speedup"] = result["pyg"]["seconds_per_step"] / result["recsys"]["seconds_per_step"]
    return result


def profile(steps: int, dim: int, layers: int, batch_size: int, rows: int = 25) -> None:
    """torch.profiler's table of our steps on the 100-slice graph (the first step is a warm-up)."""
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile

    ds, _, R, graph, _, ours, _, batches = setup(100, steps + 1, dim, layers, batch_size)
    optimizer = torch.optim.Adam(ours.parameters(), lr=0.005)

    def step(batch):
        playlists, positives, negatives = batch
        optimizer.zero_grad(set_to_none=True)
        with record_function("forward + loss"):
            index = torch.cat([playlists, ds.n_playlists + positives, ds.n_playlists + negatives])
            user, pos, neg = ours(graph, index).split(len(playlists))
            loss = -F.logsigmoid((user * pos).sum(-1) - (user * neg).sum(-1)).mean()
        with record_function("backward"):
            loss.backward()
        with record_function("adam"):
            optimizer.step()

    step(batches[0])
    began = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[1:]:
            step(batch)
    print(f"{R.nnz:,} edges: {(time.perf_counter() - began) / steps:.2f} s per profiled step "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=rows, max_name_column_width=36))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small graph only, 5 steps")
    parser.add_argument("--steps", type=int, help="training steps per model and run (default 10; 5 with --quick)")
    parser.add_argument("--runs", type=int, default=3, help="runs per model; medians are printed")
    parser.add_argument("--profile", action="store_true", help="profile our step at ~6.6M edges instead")
    parser.add_argument("--slices", type=int, nargs="+", choices=(10, 100), help="graph sizes (default: both)")
    parser.add_argument("--threads", type=int, help="torch threads for both models (default: torch's)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args(argv)
    sizes = args.slices or ((10,) if args.quick else (10, 100))
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (5 if args.quick else 10)
    if args.profile:
        profile(steps, args.dim, args.layers, args.batch_size)
        return 0
    targets = {10: 5.0, 100: 10.0}
    print(f"LightGCN training step, dim {args.dim}, {args.layers} layers, batch {args.batch_size}, "
          f"{steps} steps each, {args.runs} runs, torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start", flush=True)
    for n_slices in sizes:
        print(f"synthetic MPD, {n_slices} slices:", flush=True)
        r = compare(n_slices, steps, args.runs, args.dim, args.layers, args.batch_size)
        print(f"  {r['edges']:,} playlist-track edges, {r['nodes']:,} nodes: recsys is {r['speedup']:.1f}x "
              f"faster per step than PyG (target {targets[n_slices]:.0f}x); load average now "
              f"{os.getloadavg()[0]:.1f} (the machine is shared)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
