"""LightGCN over the playlist–track(–artist–album) graph, with a fast symmetric propagation."""
from __future__ import annotations

import torch
from torch import nn

from recsys.models.common import Batch, BPRModel, GraphTensors, layer_mean_propagation


class LightGCN(BPRModel):
    r"""LightGCN (He et al., SIGIR 2020): learned node embeddings :math:`E^{(0)}` propagated
    without weights or non-linearities, and averaged over layers,

    .. math::
        E^{(l+1)} = \hat A E^{(l)}, \qquad
        E = \frac{1}{L+1} \sum_{l=0}^{L} E^{(l)}, \qquad \hat A = D^{-1/2} A D^{-1/2}.

    Same numbers as ``torch_geometric.nn.models.LightGCN`` with the same weights (tested), but
    each layer is one sparse product with its own backward (:class:`SymmetricAdjacency`) instead
    of message passing that materialises an E × d tensor and renormalises on every call; a
    training step embeds only the tracks its batch reads (``forward(graph, rows)``).

    Nodes follow :mod:`recsys.data.graph`'s layout (playlists, tracks, then artist and album nodes), so
    a track that sits in one playlist still meets its artist's other tracks. Trained with BPR on
    the serving query: cosine of the mean of a playlist's visible tracks with a held-back one
    against sampled negatives.
    """

    graph_inputs = ("adjacency",)

    def __init__(self, num_nodes: int, embedding_dim: int = 64, num_layers: int = 3,
                 temperature: float = 0.1):
        super().__init__()
        self.num_layers = num_layers
        self.temperature = temperature
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        nn.init.xavier_uniform_(self.embedding.weight)  # as PyG's LightGCN

    def forward(self, graph: GraphTensors, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings of every node (num_nodes × d), or of the nodes ``rows`` only: the same
        values and gradients for fewer products (what a training step needs)."""
        return layer_mean_propagation(graph.adjacency, self.embedding.weight, self.num_layers, rows)

    def loss_inputs(self, graph: GraphTensors, batch: Batch) -> tuple[torch.Tensor, Batch]:
        tracks, local = batch.compact()
        return self(graph, tracks + graph.n_playlists), local
