"""Offline training of the GNNs (imports torch): ``train_model`` and its configuration."""
from recsys.training.trainer import TrainConfig, TrainResult, make_config, train_model

__all__ = ["TrainConfig", "TrainResult", "make_config", "train_model"]
