"""Models: the GNNs (torch, imported lazily) and the numpy/scipy baselines.

Every model ends in one embedding per track; a playlist is scored by the mean of its seeds'
L2-normalised embeddings (:func:`recsys.scoring.seed_query`), so serving never runs a network.
Importing this package does not import torch: :func:`gnn_class` and :func:`build_model` do, on demand.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping

# name -> "module:Class" of every GNN the trainer knows (``python -m recsys train --model NAME``).
GNN_MODELS = {
    "lightgcn": "recsys.models.lightgcn:LightGCN",
    "sage": "recsys.models.sage:GraphSAGE",
    "gcn": "recsys.models.gcn:FeatureGCN",
    "contrastive": "recsys.models.contrastive:CooccurrenceContrastive",
}


def gnn_class(name: str) -> type:
    """The torch module class registered as ``name`` (imports torch)."""
    from recsys.errors import RecsysError

    if name not in GNN_MODELS:
        raise RecsysError(f"unknown GNN model {name!r}: choose one of {', '.join(GNN_MODELS)}")
    module, cls = GNN_MODELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(name: str, config: Mapping[str, object], **sizes: int):
    """The GNN registered as ``name``, built from the settings in ``config`` (``TrainConfig.to_dict()``)
    and the graph ``sizes`` (``num_nodes``, ``num_features``) that its constructor names; the
    others are not passed (imports torch)."""
    cls = gnn_class(name)
    available = {**config, **sizes}
    params = inspect.signature(cls).parameters
    return cls(**{param: available[param] for param in params if param in available})
