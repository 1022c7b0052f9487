"""Torch pieces every GNN shares: the graph tensors a model reads, fast symmetric propagation,
and the losses, all phrased on the query that serving uses (mean of L2-normalised seeds)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F


class SymmetricAdjacency:
    """A symmetric sparse matrix (e.g. ``D^-1/2 A D^-1/2``) on one device; ``adj @ x`` propagates.

    On CPU the product is scipy's CSR × dense (single-threaded, but measured faster here than
    torch's CSR addmm and far faster than message passing); on CUDA it is ``torch.sparse.mm``.
    Because the matrix is symmetric, the backward of ``A @ x`` is ``A @ grad``: one more product,
    no transpose and no E × d message tensor kept for autograd.
    """

    def __init__(self, matrix: sp.spmatrix, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.csr = sp.csr_matrix(matrix, dtype=np.float32)
        self.shape = self.csr.shape
        self._cuda = None
        if self.device.type != "cpu":
            coo = self.csr.tocoo()
            indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
            self._cuda = torch.sparse_coo_tensor(
                indices, torch.from_numpy(coo.data), self.shape).coalesce().to_sparse_csr().to(self.device)

    def mm(self, x: torch.Tensor) -> torch.Tensor:
        """``A @ x`` without autograd (float32)."""
        if self._cuda is not None:
            return torch.sparse.mm(self._cuda, x.float())
        dense = x.detach().float().numpy()
        return torch.from_numpy(np.ascontiguousarray(self.csr @ dense))

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return _SymmetricSpmm.apply(x, self)


class _SymmetricSpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, adjacency):
        ctx.adjacency = adjacency
        return adjacency.mm(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.adjacency.mm(grad), None


def layer_mean_propagation(adjacency: SymmetricAdjacency, x: torch.Tensor, num_layers: int) -> torch.Tensor:
    """LightGCN's read-out: the mean of ``x, Âx, Â²x, ..., Â^L x``."""
    out = x / (num_layers + 1)
    for _ in range(num_layers):
        x = adjacency @ x
        out = out + x / (num_layers + 1)
    return out


@dataclass
class GraphTensors:
    """What a model's ``forward`` reads: the node layout of :mod:`recsys.graph` (playlists, tracks,
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
