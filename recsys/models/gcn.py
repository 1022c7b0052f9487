"""A two-layer GCN over the track feature matrix (no learned ids)."""
from __future__ import annotations

import torch
from torch import nn

from recsys.models.common import BPRModel, GraphTensors


class FeatureGCN(BPRModel):
    r"""GCN (Kipf & Welling, 2017) over track features:
    :math:`H = \hat A\, \sigma(\hat A X W_1) W_2` with :math:`\hat A = D^{-1/2}(A + I)D^{-1/2}`.

    X holds each track's features (``recsys.data.features.track_features``: the eleven audio
    features, popularity and release year, standardised, plus genre) and each playlist, artist
    and album node's type; the two
    layers mix a track with the tracks it shares a playlist, an artist or an album with. No
    per-node parameters, so any track with features and links gets an embedding. Trained with
    BPR on the serving query, like :class:`recsys.models.lightgcn.LightGCN`.
    """

    graph_inputs = ("adjacency_self", "features")

    def __init__(self, num_features: int, embedding_dim: int = 64, hidden_dim: int = 128,
                 temperature: float = 0.1):
        super().__init__()
        self.temperature = temperature
        self.layer1 = nn.Linear(num_features, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, embedding_dim)

    def forward(self, graph: GraphTensors) -> torch.Tensor:
        """Embeddings of every node (num_nodes × d)."""
        h = torch.relu(graph.adjacency_self @ self.layer1(graph.features))
        return graph.adjacency_self @ self.layer2(h)
