"""Time per LightGCN training step: recsys's LightGCN against torch_geometric's, same run.

Both models get the same synthetic MPD-like graph (recsys.synthetic, ingested like real slices),
the same initial weights, embedding size, layers, batches, BPR loss and Adam; only the
propagation differs (one symmetric sparse product per layer with its own backward, against PyG's
message passing). Prints the median seconds per step, the speed-up, and the validation
Recall@20 / NDCG@20 of both after the same number of steps (scored as serving scores: mean of
the seeds' normalised embeddings).

    python benchmarks/train_speed.py            # ~0.66M and ~6.6M edges (10 and 100 slices)
    python benchmarks/train_speed.py --quick    # ~0.66M edges only, fewer steps
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torch_geometric.nn.models import LightGCN as PyGLightGCN  # noqa: E402

from recsys.dataset import load_dataset  # noqa: E402
from recsys.evaluation import EmbeddingScorer, evaluate  # noqa: E402
from recsys.graph import interaction_matrix, normalized_adjacency  # noqa: E402
from recsys.ingest.mpd import ingest_mpd  # noqa: E402
from recsys.models.common import GraphTensors, SymmetricAdjacency  # noqa: E402
from recsys.models.lightgcn import LightGCN  # noqa: E402
from recsys.splits import continuation_split  # noqa: E402
from recsys.synthetic import write_synthetic_mpd  # noqa: E402

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
    """One classic LightGCN step: BPR on playlist · track inner products."""
    playlists, positives, negatives = batch
    optimizer.zero_grad(set_to_none=True)
    began = time.perf_counter()
    emb = embed()
    user, pos, neg = emb[playlists], emb[n_playlists + positives], emb[n_playlists + negatives]
    loss = -F.logsigmoid((user * pos).sum(-1) - (user * neg).sum(-1)).mean()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - began


def compare(n_slices: int, steps: int, dim: int, layers: int, batch_size: int) -> dict:
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

    result = {"slices": n_slices, "edges": int(R.nnz), "nodes": int(A.shape[0])}
    for name, model, embed in (("recsys", ours, lambda: ours(graph)),
                               ("pyg", theirs, lambda: theirs.get_embedding(edge_index))):
        optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
        times = [bpr_step(embed, optimizer, ds.n_playlists, b) for b in batches]
        with torch.no_grad():
            tracks = embed()[graph.track_rows].numpy()
        val = evaluate(EmbeddingScorer(tracks), split.val)
        result[name] = {"seconds_per_step": statistics.median(times[1:]),
                        "val_recall@20": val["recall_at_k"], "val_ndcg@20": val["ndcg_at_k"]}
        print(f"  {name:7s} {result[name]['seconds_per_step'] * 1000:9.1f} ms/step   "
              f"val Recall@20 {val['recall_at_k']:.4f}  NDCG@20 {val['ndcg_at_k']:.4f}", flush=True)
    result["speedup"] = result["pyg"]["seconds_per_step"] / result["recsys"]["seconds_per_step"]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small graph only, 5 steps")
    parser.add_argument("--steps", type=int, help="training steps per model (default 10; 5 with --quick)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args(argv)
    sizes = (10,) if args.quick else (10, 100)
    steps = args.steps or (5 if args.quick else 10)
    targets = {10: 5.0, 100: 10.0}
    print(f"LightGCN training step, dim {args.dim}, {args.layers} layers, batch {args.batch_size}, "
          f"{steps} steps each, torch threads {torch.get_num_threads()}")
    for n_slices in sizes:
        print(f"synthetic MPD, {n_slices} slices:", flush=True)
        r = compare(n_slices, steps, args.dim, args.layers, args.batch_size)
        print(f"  {r['edges']:,} playlist-track edges, {r['nodes']:,} nodes: recsys is {r['speedup']:.1f}x "
              f"faster per step than PyG (target {targets[n_slices]:.0f}x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
