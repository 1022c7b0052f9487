"""Torch pieces every GNN shares: the graph tensors a model reads, fast symmetric propagation,
and the losses, all phrased on the query that serving uses (mean of L2-normalised seeds)."""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn


# torch flags CSR tensors as beta once per process; the products used here are tested. The
# matrices are built sorted and in range, so torch's invariant checks are skipped (check_invariants).
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


class SymmetricAdjacency:
    """A symmetric sparse matrix (e.g. ``D^-1/2 A D^-1/2``) as a torch CSR tensor on one device;
    ``adj @ x`` propagates.

    Built from a scipy matrix or from a torch CSR tensor (what the trainer's per-step graphs are).
    The product is ``torch.sparse.mm`` (MKL on CPU) on torch's threads: for 13.2M stored entries
    × 64 it took 0.51 s on one core here against scipy's 0.55 s, and 0.32 s on two (scipy has no
    second thread). Because the matrix is symmetric, the backward of ``A @ x`` is ``A @ grad``:
    one more product, no transpose and no E × d message tensor kept for autograd.
    """

    def __init__(self, matrix: sp.spmatrix | torch.Tensor, device: torch.device | str | None = None):
        if isinstance(matrix, torch.Tensor):
            self.matrix = matrix if device is None else matrix.to(device)
        else:
            csr = sp.csr_matrix(matrix, dtype=np.float32)
            csr.sort_indices()
            index = index_dtype(csr.nnz)
            self.matrix = torch.sparse_csr_tensor(
                torch.from_numpy(csr.indptr.astype(np.int64)).to(index),
                torch.from_numpy(csr.indices).to(index),
                torch.from_numpy(csr.data), csr.shape, check_invariants=False).to(device or "cpu")
        self.shape = tuple(self.matrix.shape)
        self.device = self.matrix.device

    @property
    def nnz(self) -> int:
        return int(self.matrix.values().numel())

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        """``A @ x`` without autograd (float32)."""
        return torch.sparse.mm(self.matrix, x.detach().float())

    def row_block(self, rows: torch.Tensor) -> torch.Tensor:
        """``A[rows, :]`` as a (len(rows) × n) CSR tensor, gathered without touching other rows."""
        crow, col, values = self.matrix.crow_indices(), self.matrix.col_indices(), self.matrix.values()
        starts = crow[rows].long()
        counts = crow[rows + 1].long() - starts
        block_crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        positions = (torch.repeat_interleave(starts - block_crow[:-1], counts)
                     + torch.arange(int(block_crow[-1]), device=crow.device))
        return torch.sparse_csr_tensor(block_crow.to(crow.dtype), col[positions], values[positions],
                                       (len(rows), self.shape[1]), check_invariants=False)

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return _SymmetricSpmm.apply(x, self)


def index_dtype(nnz: int) -> torch.dtype:
    """int32 CSR indices while they fit (the product is ~10% faster than with int64)."""
    return torch.int32 if nnz < 2**31 else torch.int64


class _SymmetricSpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, adjacency):
        ctx.adjacency = adjacency
        return adjacency.mm(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.adjacency.mm(grad), None


def layer_mean_propagation(adjacency: SymmetricAdjacency, x: torch.Tensor, num_layers: int,
                           rows: torch.Tensor | None = None) -> torch.Tensor:
    """LightGCN's read-out: the mean of ``x, Âx, Â²x, ..., Â^L x``; with ``rows``, only those
    rows of it (same values and gradients, one product over the whole graph fewer)."""
    if rows is not None:
        distinct, position = torch.unique(rows, return_inverse=True)  # a batch repeats popular tracks
        return _LayerMeanRows.apply(x, adjacency, num_layers, distinct)[position]
    out = x
    for _ in range(num_layers):
        x = adjacency @ x
        out = out + x
    return out / (num_layers + 1)


class _LayerMeanRows(torch.autograd.Function):
    """Rows ``rows`` (distinct) of the layer mean. A loss reads a few thousand rows, so the last
    layer needs only ``A[rows, :] @ Â^(L-1) x``: one of the L products over the whole graph
    becomes a product over those rows' entries (22% of them for a 4,096-triple batch at 6.6M
    edges). The backward, ``Σ Â^l`` applied to the gradient scattered to ``rows``, starts from
    that block too: as Â is symmetric, ``Â`` times a gradient that is zero off ``rows`` is
    ``A[rows, :]ᵀ @ grad`` (0.22 s against 0.62 s for the full product there). torch sorts the
    block into CSR for that product, ~1.6× a plain product's cost per entry, so a block holding
    half of the entries or more takes the full product instead."""

    @staticmethod
    def forward(ctx, x, adjacency, num_layers, rows):
        ctx.adjacency, ctx.num_layers, ctx.num_nodes = adjacency, num_layers, x.shape[0]
        ctx.save_for_backward(rows)
        x = x.detach().float()
        out, h = x[rows], x
        for _ in range(num_layers - 1):
            h = adjacency.mm(h)
            out = out + h[rows]
        if num_layers:
            ctx.block = adjacency.row_block(rows)
            out = out + torch.sparse.mm(ctx.block, h)
        return out / (num_layers + 1)

    @staticmethod
    def backward(ctx, grad):
        (rows,) = ctx.saved_tensors
        grad = grad.float() / (ctx.num_layers + 1)
        total = grad.new_zeros((ctx.num_nodes, grad.shape[1])).index_add_(0, rows, grad)
        if ctx.num_layers:
            block = ctx.block
            h = (torch.sparse.mm(block.t(), grad) if 2 * block.values().numel() < ctx.adjacency.nnz
                 else ctx.adjacency.mm(total))
            total += h
            for _ in range(ctx.num_layers - 1):
                h = ctx.adjacency.mm(h)
                total += h
        return total, None, None, None


@dataclass
class GraphTensors:
    """What a model's ``forward`` reads: the node layout of :mod:`recsys.data.graph` (playlists, tracks,
    then side nodes such as artists and albums), on one device.

    ``adjacency`` is the normalised adjacency without self loops (LightGCN) and ``degree`` the
    node degrees it was normalised by, ``adjacency_self`` the GCN one with self loops, and
    ``features`` a (num_nodes × num_features) matrix (tracks' features; every node its type
    one-hot).
    Fields a model does not read may be None.
    """

    n_playlists: int
    n_tracks: int
    num_nodes: int
    adjacency: SymmetricAdjacency | None = None
    degree: torch.Tensor | None = None
    adjacency_self: SymmetricAdjacency | None = None
    features: torch.Tensor | None = None

    @property
    def track_rows(self) -> slice:
        return slice(self.n_playlists, self.n_playlists + self.n_tracks)

    def neighbour_mean(self, x: torch.Tensor) -> torch.Tensor:
        """GraphSAGE's mean aggregator ``D^-1 A x``, computed as ``D^-1/2 (D^-1/2 A D^-1/2) D^1/2 x``
        so it reuses the fast symmetric product (``degree``: (num_nodes, 1) node degrees of A)."""
        root = self.degree.sqrt()
        return torch.where(self.degree > 0, (self.adjacency @ (x * root)) / root.clamp(min=1e-12), 0.0)


@dataclass
class Batch:
    """One training batch of playlist-continuation examples (int64 tensors on the model's device).

    Row i: ``seeds[i]`` are visible tracks of a playlist (``seed_mask`` marks the real ones),
    ``positives[i]`` a held-back track of the same playlist, ``negatives[i]`` sampled tracks.
    ``negative_labels`` (±1, used by the co-occurrence loss) says whether seed ``anchors[i]``
    and each negative do share a playlist after all.
    """

    seeds: torch.Tensor
    seed_mask: torch.Tensor
    positives: torch.Tensor
    negatives: torch.Tensor
    anchors: torch.Tensor | None = None
    negative_labels: torch.Tensor | None = None

    def compact(self) -> tuple[torch.Tensor, Batch]:
        """The distinct tracks this batch reads, and the batch with its track ids replaced by
        positions in them: a model can then embed those rows only."""
        parts = [self.seeds, self.positives, self.negatives]
        parts += [self.anchors] if self.anchors is not None else []
        tracks, inverse = torch.unique(torch.cat([p.reshape(-1) for p in parts]), return_inverse=True)
        local = list(torch.split(inverse, [p.numel() for p in parts]))
        local = [index.view_as(part) for index, part in zip(local, parts)]
        return tracks, dataclasses.replace(self, seeds=local[0], positives=local[1], negatives=local[2],
                                           anchors=local[3] if self.anchors is not None else None)


def query_scores(track_embeddings: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine of each row's serving query with its positive (batch,) and negatives (batch, n_neg).

    The query is the torch twin of :func:`recsys.scoring.seed_query`: the normalised mean of the
    row's normalised seed embeddings (masked seeds left out).
    """
    unit = F.normalize(track_embeddings, dim=-1)  # once for the table, cheaper than per gathered row
    queries = F.normalize((unit[batch.seeds] * batch.seed_mask.unsqueeze(-1)).sum(1), dim=-1)
    negatives = torch.einsum("bd,bnd->bn", queries, unit[batch.negatives])
    return (queries * unit[batch.positives]).sum(-1), negatives


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor, temperature: float) -> torch.Tensor:
    """Bayesian personalised ranking: ``-log σ((s⁺ - s⁻) / τ)`` averaged over the negatives."""
    return -F.logsigmoid((pos.unsqueeze(-1) - neg) / temperature).mean()


class BPRModel(nn.Module):
    """A GNN trained with BPR on the serving query (as PyG's ``BasicGNN`` holds what its models
    share): a subclass sets ``temperature`` and says which track embeddings a batch reads."""

    temperature: float

    def loss_inputs(self, graph: GraphTensors, batch: Batch) -> tuple[torch.Tensor, Batch]:
        """Track embeddings (one row per track) and the batch indexing them: every track here; a
        subclass that can embed only the batch's tracks returns those and the batch re-indexed."""
        return self(graph)[graph.track_rows], batch

    def loss(self, graph: GraphTensors, batch: Batch) -> torch.Tensor:
        pos, neg = query_scores(*self.loss_inputs(graph, batch))
        return bpr_loss(pos, neg, self.temperature)


def cooccurrence_loss(track_embeddings: torch.Tensor, batch: Batch, margin: float) -> torch.Tensor:
    """Cosine embedding loss on track pairs: (anchor, positive) share a playlist (+1); each
    (anchor, negative) carries its looked-up label (+1 if they share one after all, else -1)."""
    anchors = track_embeddings[batch.anchors]
    n_neg = batch.negatives.shape[1]
    a = torch.cat([anchors, anchors.repeat_interleave(n_neg, dim=0)])
    b = torch.cat([track_embeddings[batch.positives], track_embeddings[batch.negatives.reshape(-1)]])
    y = torch.cat([torch.ones_like(batch.positives, dtype=a.dtype),
                   batch.negative_labels.reshape(-1).to(a.dtype)])
    return F.cosine_embedding_loss(a, b, y, margin=margin)
