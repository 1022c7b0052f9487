"""Feature matrices for the feature-based GNNs (numpy only): per track, then per graph node."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys.data.dataset import AUDIO_FEATURES

# Every numeric track column the GCN reads, where the source has it: the eleven audio features
# (TidyTuesday, the Spotify crawler), popularity and release year, and the duration that
# MPD-style sources carry when they have nothing else.
NUMERIC_FEATURES = (*AUDIO_FEATURES, "popularity", "release_year", "duration_ms")


def track_features(tracks: pd.DataFrame) -> np.ndarray:
    """(n_tracks × f) float32: each column of ``NUMERIC_FEATURES`` the tracks have, standardised
    (z-score over the tracks that have a value; a missing value becomes 0, the mean, and gets a
    0/1 missing flag column beside it), plus a genre one-hot when there is a genre column. A
    column with no value at all is left out. Artists are not a column here: the graph links
    tracks to artist and album nodes instead."""
    columns = []
    for name in NUMERIC_FEATURES:
        if name not in tracks.columns:
            continue
        values = pd.to_numeric(tracks[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        missing = np.isnan(values)
        if missing.all():
            continue
        present = values[~missing]
        columns.append(np.where(missing, 0.0, (values - present.mean()) / (present.std() or 1.0)))
        if missing.any():
            columns.append(missing.astype(np.float64))
    if "genre" in tracks.columns:
        genres = tracks["genre"].astype("string").fillna("")
        codes, _ = pd.factorize(genres)
        columns.extend((codes == g).astype(np.float64) for g in range(codes.max() + 1))
    if not columns:
        return np.zeros((len(tracks), 0), dtype=np.float32)
    return np.column_stack(columns).astype(np.float32)


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
