"""Time per LightGCN training step: recsys's LightGCN against torch_geometric's, same run.

Both models get the same synthetic MPD-like graph (recsys.ingest.synthetic_mpd, ingested like real
slices), the same initial weights, embedding size, layers, batches, BPR loss and Adam; only the
propagation differs (one symmetric torch CSR product per layer with its own backward, the last
layer's and the backward's first restricted to the rows the loss reads, against PyG's message
passing over every node). "recsys, all rows" is ours embedding every node, as PyG does, to show
what the row restriction adds. Each run restarts from the same weights; the step time of
a run is the median of its steps after the first, and the figures printed are the medians over
the runs. Then the validation Recall@20 / NDCG@20 of each after the same steps (scored as serving
scores: mean of the seeds' normalised embeddings), and the load average (the machine is shared).

    python -m benchmarks.train_speed            # ~0.66M and ~6.6M edges (10 and 100 slices)
    python -m benchmarks.train_speed --quick    # ~0.66M edges only, fewer steps
    python -m benchmarks.train_speed --profile  # where our step's time goes at ~6.6M edges
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

from torch.profiler import ProfilerActivity, record_function
from torch.profiler import profile as torch_profile
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from recsys.data.dataset import load_dataset
from recsys.data.graph import interaction_matrix, normalized_adjacency
from recsys.data.splits import continuation_split
from recsys.evaluation import EmbeddingScorer, evaluate
from recsys.ingest.mpd import ingest_mpd
from recsys.ingest.synthetic_mpd import write_synthetic_mpd
from recsys.models.common import GraphTensors, SymmetricAdjacency, bpr_loss, query_scores
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


def profile(steps: int, dim: int, layers: int, batch_size: int) -> None:
    """Where a step's time goes at ~6.6M edges (the 100-slice graph), from torch.profiler: the
    benchmark's step above and the trainer's (its LightGCN recipe: sampled message graph and
    batch, artist and album nodes, ``cpu_threads`` threads). The first step is a warm-up."""
    from recsys.data.graph import side_blocks
    from recsys.training.sampling import ContinuationSampler, GraphBuilder
    from recsys.training.trainer import make_config

    ds, _, R, graph, _, ours, _, batches = setup(100, steps + 1, dim, layers, batch_size)
    optimizer = torch.optim.Adam(ours.parameters(), lr=0.005)

    def benchmark_step(batch):
        playlists, positives, negatives = batch
        optimizer.zero_grad(set_to_none=True)
        with record_function("forward"):
            user, pos, neg = ours(graph, torch.cat([playlists, ds.n_playlists + positives,
                                                    ds.n_playlists + negatives])).split(len(playlists))
        with record_function("loss"):
            loss = -F.logsigmoid((user * pos).sum(-1) - (user * neg).sum(-1)).mean()
        backward_and_adam(loss, optimizer)

    print(f"benchmark step: {R.nnz:,} edges, {graph.num_nodes:,} nodes, dim {dim}, {layers} layers, "
          f"batch {batch_size}, torch threads {torch.get_num_threads()}")
    profiled(benchmark_step, batches)

    config = make_config("lightgcn")
    split = continuation_split(ds, n_test=0, n_val=200, seed=0)
    R = interaction_matrix(split.train, ds.n_playlists, ds.n_tracks)
    side = side_blocks(ds.tracks, config.side_nodes, min_tracks=config.side_min_tracks)
    builder = GraphBuilder(side, None, LightGCN.graph_inputs, torch.device("cpu"), ds.n_playlists,
                           ds.n_tracks)
    sampler = ContinuationSampler(R, builder, np.random.default_rng(0), holdout=config.holdout,
                                  batch_size=config.batch_size, max_seeds=config.max_seeds,
                                  negatives=config.negatives)
    draw = sampler.graphs.draw

    def labelled_draw(visible):
        with record_function("message graph"):
            return draw(visible)

    sampler.graphs.draw = labelled_draw  # the draw's own share of sample()
    model = LightGCN(builder.num_nodes, config.embedding_dim, config.num_layers, config.temperature)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def trainer_step(_):
        with record_function("batch"):
            graph, batch = sampler.sample()
        optimizer.zero_grad(set_to_none=True)
        with record_function("forward"):
            tracks, batch = model.loss_inputs(graph, batch)
        with record_function("loss"):
            loss = bpr_loss(*query_scores(tracks, batch), model.temperature)
        backward_and_adam(loss, optimizer)

    threads = torch.get_num_threads()
    torch.set_num_threads(config.cpu_threads)
    print(f"\ntrainer step: {R.nnz:,} training edges, {builder.num_nodes:,} nodes (with artists and albums), "
          f"dim {config.embedding_dim}, {config.num_layers} layers, {config.batch_size} positives x "
          f"{config.negatives} negatives, torch threads {config.cpu_threads}")
    try:
        profiled(trainer_step, range(steps + 1))
    finally:
        torch.set_num_threads(threads)


def backward_and_adam(loss, optimizer) -> None:
    with record_function("backward"):
        loss.backward()
    with record_function("adam"):
        optimizer.step()


PARTS = ("batch", "message graph", "forward", "loss", "backward", "adam")


def profiled(step, inputs) -> None:
    """Run ``step`` on each input (the first unprofiled) and print CPU time per step by part,
    with each part's sparse × dense products (``aten::_sparse_mm``) apart: those over the whole
    graph (a square matrix) and those over the batch's rows only."""
    inputs = list(inputs)
    step(inputs[0])
    began = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for x in inputs[1:]:
            step(x)
    n = len(inputs) - 1
    wall = (time.perf_counter() - began) / n * 1e6  # microseconds, as the profiler counts
    totals = dict.fromkeys(PARTS, 0.0)
    products = {}  # (part, kind) -> [microseconds, count]
    for event in prof.events():
        if event.name in totals:
            totals[event.name] += event.cpu_time_total
        elif event.name == "aten::_sparse_mm":
            scope = event.cpu_parent
            while scope is not None and scope.name not in ("forward", "backward"):
                scope = scope.cpu_parent
            if scope is not None:
                rows, cols = event.input_shapes[0]
                kind = "whole graph" if rows == cols else "batch rows"
                entry = products.setdefault((scope.name, kind), [0.0, 0])
                entry[0] += event.cpu_time_total
                entry[1] += 1
    totals["batch"] -= totals["message graph"]  # "batch" is sample(): its numpy work and the draw
    table = []
    for part in PARTS:
        rest = totals[part]
        for kind in ("whole graph", "batch rows"):
            if (part, kind) in products:
                micros, count = products[part, kind]
                table.append((f"{part}: {count // n} sparse product(s), {kind}", micros))
                rest -= micros
        if totals[part]:
            table.append((f"{part}{': the rest' if (part, 'whole graph') in products else ''}", rest))
    table.append(("unaccounted (Python, zero_grad)", max(wall * n - sum(m for _, m in table), 0.0)))
    print(f"{'part':48s} {'ms/step':>8} {'share':>6}")
    for name, micros in table:
        print(f"{name:48s} {micros / n / 1000:8,.0f} {micros / n / wall:6.1%}")
    print(f"{'step (wall)':48s} {wall / 1000:8,.0f}   load average {os.getloadavg()[0]:.1f}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small graph only, 5 steps")
    parser.add_argument("--steps", type=int, help="training steps per model and run (default 10; 5 with --quick)")
    parser.add_argument("--runs", type=int, default=3, help="runs per model; medians are printed")
    parser.add_argument("--profile", action="store_true",
                        help="profile our step and the trainer's at ~6.6M edges instead")
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
