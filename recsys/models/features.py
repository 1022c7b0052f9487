"""Track feature matrices for the feature-based GNNs (numpy only)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.dataset import AUDIO_FEATURES

METADATA_FEATURES = ("popularity", "release_year", "duration_ms")


def track_features(tracks: pd.DataFrame) -> np.ndarray:
    """(n_tracks × f) float32: the audio features where the source has them, else metadata
    (popularity, release year, duration), each standardised with a missing-value flag, plus a
    genre one-hot when there is a genre column. Artists are not a column here: the graph links
    tracks to artist and album nodes instead."""
    numeric = [c for c in AUDIO_FEATURES if c in tracks.columns] or \
        [c for c in METADATA_FEATURES if c in tracks.columns]
    columns = []
    for name in numeric:
        values = pd.to_numeric(tracks[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        missing = np.isnan(values)
        present = values[~missing]
        mean, std = (present.mean(), present.std()) if len(present) else (0.0, 1.0)
        columns.append(np.where(missing, 0.0, (values - mean) / (std or 1.0)))
        if missing.any():
            columns.append(missing.astype(np.float64))
    if "genre" in tracks.columns:
        genres = tracks["genre"].astype("string").fillna("")
        codes, _ = pd.factorize(genres)
        columns.extend((codes == g).astype(np.float64) for g in range(codes.max() + 1))
    if not columns:
        return np.zeros((len(tracks), 0), dtype=np.float32)
    return np.column_stack(columns).astype(np.float32)
