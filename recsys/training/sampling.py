"""Training graphs and batches for playlist continuation (numpy/scipy, then tensors).

Each step hides a random share of the training playlist–track edges: the graph the model
propagates over keeps the rest (the *message* edges), and the hidden ones are the positives,
scored against the visible tracks of the same playlist — the held-out-playlist situation the
model is evaluated in. On sparse data most hidden tracks then sit in no visible playlist at all,
so the model learns to reach them through their artist and album nodes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from recsys.graph import bipartite_adjacency, cooccurrence, shares_playlist, symmetric_normalize
from recsys.models.common import Batch, GraphTensors, SymmetricAdjacency

# The GraphTensors fields a builder can fill; each model class names the ones it reads (graph_inputs).
GRAPH_FIELDS = ("adjacency", "adjacency_self", "features")


class GraphBuilder:
    """Turns a playlists × tracks matrix into the :class:`GraphTensors` a model reads, with
    fixed side blocks (artists, albums) and node features, on one device."""

    def __init__(self, side: Sequence[sp.spmatrix], track_features: np.ndarray | None,
                 needs: Sequence[str], device: torch.device, n_playlists: int, n_tracks: int):
        unknown = set(needs) - set(GRAPH_FIELDS)
        if unknown:
            raise ValueError(f"unknown graph inputs {sorted(unknown)}; expected some of {GRAPH_FIELDS}")
        self.side = list(side)
        self.needs = set(needs)
        self.device = device
        self.n_playlists, self.n_tracks = n_playlists, n_tracks
        self.num_nodes = n_playlists + n_tracks + sum(b.shape[1] for b in self.side)
        self.features = None
        if "features" in self.needs:
            features = node_features(track_features, n_playlists, [b.shape[1] for b in self.side])
            self.features = torch.from_numpy(features).to(device)

    @property
    def num_features(self) -> int:
        return 0 if self.features is None else self.features.shape[1]

    def build(self, R: sp.csr_matrix) -> GraphTensors:
        A = bipartite_adjacency(R, self.side)
        graph = GraphTensors(self.n_playlists, self.n_tracks, self.num_nodes, features=self.features)
        if "adjacency" in self.needs:
            graph.adjacency = SymmetricAdjacency(symmetric_normalize(A), self.device)
            graph.degree = torch.from_numpy(np.asarray(A.sum(axis=1), dtype=np.float32)).to(self.device)
        if "adjacency_self" in self.needs:
            with_loops = A + sp.identity(A.shape[0], np.float32, "csr")
            graph.adjacency_self = SymmetricAdjacency(symmetric_normalize(with_loops), self.device)
        return graph


def node_features(track_features: np.ndarray, n_playlists: int, side_sizes: Sequence[int]) -> np.ndarray:
    """(num_nodes × (f + node types)) float32: tracks carry their features, every node a one-hot
    of its type (playlist, track, then one per side block), so no node starts from zeros."""
    n_tracks = track_features.shape[0]
    sizes = [n_playlists, n_tracks, *side_sizes]
    types = np.repeat(np.arange(len(sizes)), sizes)
    out = np.zeros((sum(sizes), track_features.shape[1] + len(sizes)), dtype=np.float32)
    out[n_playlists:n_playlists + n_tracks, :track_features.shape[1]] = track_features
    out[np.arange(len(types)), track_features.shape[1] + types] = 1.0
    return out


class ContinuationSampler:
    """Draws (message graph, batch) pairs from the training interactions ``R`` (playlists × tracks).

    ``holdout``: share of edges hidden per step; ``batch_size`` positives drawn from them, each
    with up to ``max_seeds`` visible tracks of its playlist as the query (a random number, as a
    user gives anything from one seed to a playlist) and ``negatives`` tracks drawn with the
    interactions' popularity (tracks outside every training playlist are never pushed away).
    ``with_pair_labels`` adds the co-occurrence labels of (first seed, negative) pairs.
    """

    def __init__(self, R: sp.csr_matrix, builder: GraphBuilder, rng: np.random.Generator, *,
                 holdout: float, batch_size: int, max_seeds: int, negatives: int,
                 with_pair_labels: bool = False):
        coo = sp.csr_matrix(R).tocoo()
        self.rows, self.cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        if len(self.rows) == 0:
            raise ValueError("no training interactions")
        self.shape = R.shape
        self.builder, self.rng = builder, rng
        self.holdout, self.batch_size = holdout, batch_size
        self.max_seeds, self.negatives = max_seeds, negatives
        self.cooccurrence = cooccurrence(R) if with_pair_labels else None

    def sample(self) -> tuple[GraphTensors, Batch]:
        rng = self.rng
        hidden = rng.random(len(self.rows)) < self.holdout
        if not hidden.any():
            hidden[rng.integers(len(hidden))] = True
        rows, cols = self.rows[~hidden], self.cols[~hidden]
        visible = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=self.shape)
        picked = rng.choice(np.flatnonzero(hidden), size=self.batch_size)
        playlists, positives = self.rows[picked], self.cols[picked]

        starts, counts = visible.indptr[playlists], np.diff(visible.indptr)[playlists]
        offsets = (rng.random((self.batch_size, self.max_seeds)) * counts[:, None]).astype(np.int64)
        positions = np.minimum(starts[:, None] + offsets, max(visible.nnz - 1, 0))
        seeds = visible.indices[positions].astype(np.int64)
        n_seeds = rng.integers(1, self.max_seeds + 1, size=self.batch_size)
        seed_mask = (np.arange(self.max_seeds)[None, :] < n_seeds[:, None]) & (counts[:, None] > 0)
        keep = seed_mask.any(1)  # a playlist with every edge hidden has no query this step
        negatives = self.cols[rng.integers(len(self.cols), size=(self.batch_size, self.negatives))]

        labels = None
        if self.cooccurrence is not None:
            anchors = np.repeat(seeds[:, 0], self.negatives)
            pairs = shares_playlist(self.cooccurrence, anchors, negatives.ravel())
            labels = np.where(pairs, 1, -1).reshape(negatives.shape)[keep]
        device = self.builder.device
        tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        batch = Batch(seeds=tensor(seeds[keep]), seed_mask=tensor(seed_mask[keep].astype(np.float32)),
                      positives=tensor(positives[keep]), negatives=tensor(negatives[keep]),
                      anchors=tensor(seeds[keep, 0]),
                      negative_labels=None if labels is None else tensor(labels))
        return self.builder.build(visible), batch
