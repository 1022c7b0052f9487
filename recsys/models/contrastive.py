"""Co-occurrence contrastive model: a propagation encoder trained with a cosine embedding loss."""
from __future__ import annotations

import torch
from torch import nn

from recsys.models.common import Batch, GraphTensors, cooccurrence_loss, layer_mean_propagation


class CooccurrenceContrastive(nn.Module):
    """Track pairs labelled by co-occurrence: (a, b, +1) when a and b share a playlist — looked
    up in the cached co-occurrence matrix (:func:`recsys.data.graph.cooccurrence`) — and (a, b, -1)
    otherwise, with ``torch.nn.functional.cosine_embedding_loss``.

    Encoder: learned ids plus projected features, propagated LightGCN-style over the
    playlist–track–artist–album graph and averaged over layers, so artist and album links reach
    tracks that sit in a single playlist.
    """

    graph_inputs = ("adjacency", "features")
    needs_pair_labels = True  # the trainer looks each sampled pair up in the co-occurrence matrix

    def __init__(self, num_nodes: int, num_features: int, embedding_dim: int = 64, num_layers: int = 2,
                 margin: float = 0.2):
        super().__init__()
        self.num_layers = num_layers
        self.margin = margin
        self.embedding = nn.Embedding(num_nodes, embedding_dim)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.project = nn.Linear(num_features, embedding_dim)

    def forward(self, graph: GraphTensors) -> torch.Tensor:
        """Embeddings of every node (num_nodes × d)."""
        x = self.embedding.weight + self.project(graph.features)
        return layer_mean_propagation(graph.adjacency, x, self.num_layers)

    def loss(self, graph: GraphTensors, batch: Batch) -> torch.Tensor:
        return cooccurrence_loss(self(graph)[graph.track_rows], batch, self.margin)
