"""Turn a training result into a published artifact (catalog, dataset meta, metrics)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.training.artifact_writer import write_artifact
from recsys.data.dataset import Dataset
from recsys.serving.continuation import song_codes
from recsys.data.splits import Split
from recsys.training.hybrid import HybridModel
from recsys.training.trainer import TrainResult


def artifact_catalog(dataset: Dataset) -> pd.DataFrame:
    """The served catalog: the dataset's tracks (row i = track_idx i) plus ``n_playlists``."""
    catalog = dataset.tracks.copy()
    counts = np.bincount(dataset.interactions["track_idx"], minlength=dataset.n_tracks)
    catalog["n_playlists"] = counts.astype(np.int32)
    return catalog


def dataset_meta(dataset: Dataset, split: Split | None = None) -> dict:
    """What the manifest records about the training data."""
    meta = {key: dataset.meta.get(key) for key in ("name", "source", "fingerprint", "counts")}
    if split is not None:
        meta["split"] = split.describe()
    return meta


def publish_result(models_dir: str | os.PathLike, model: str, dataset: Dataset, result: TrainResult,
                   split: Split | None = None, *, extra_metrics: dict | None = None, dtype: str = "float16",
                   make_current: bool = True) -> Path:
    """Publish ``result``'s embeddings as a new version of ``model``; returns its directory.
    The manifest's metrics are the best validation epoch's plus ``extra_metrics`` (e.g. test)."""
    return write_artifact(models_dir, model, embeddings=result.embeddings, catalog=artifact_catalog(dataset),
                   curves=result.curves, config=result.config, dataset_meta=dataset_meta(dataset, split),
                   metrics={**result.metrics, **(extra_metrics or {})}, dtype=dtype,
                   make_current=make_current,
                   arrays={"song_codes": song_codes(dataset.tracks["name"], dataset.tracks["artist"])})


def publish_hybrid(models_dir: str | os.PathLike, model: str, dataset: Dataset, hybrid: HybridModel,
                   split: Split | None = None, *, extra_metrics: dict | None = None,
                   make_current: bool = True) -> Path:
    """Publish the hybrid: its GNN's embeddings and curves, its neighbourhoods as artifact
    arrays, and its blend in the manifest's config (read back by the Recommender)."""
    return write_artifact(models_dir, model, embeddings=hybrid.embeddings, catalog=artifact_catalog(dataset),
                   curves=hybrid.gnn.curves, config=hybrid.config, dataset_meta=dataset_meta(dataset, split),
                   metrics={**hybrid.gnn.metrics, **(extra_metrics or {})}, make_current=make_current,
                   arrays=hybrid.arrays)
