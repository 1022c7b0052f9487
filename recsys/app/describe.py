"""Words for listeners (no Streamlit): what each model is in one line, what its held-out figures
mean in one sentence, and a version as a date."""
from __future__ import annotations

import re
from datetime import datetime, timezone

MODEL_DESCRIPTIONS = {
    "hybrid": "Hybrid (recommended): LightGCN's graph embeddings blended with tracks that share "
              "playlists, artists and albums with your seeds, and playlists holding several of them.",
    "lightgcn": "LightGCN: learns from which tracks share playlists, spreading that signal over the "
                "playlist–track graph.",
    "contrastive": "Contrastive: learns to put tracks that share playlists close together and "
                   "others apart.",
    "sage": "GraphSAGE: builds each track from its playlists, artist and album, plus what is known "
            "about the track itself.",
    "gcn": "GCN over track features: recommends from what is known about each track (its "
           "features), passed along the playlist graph; no per-track memory.",
    "popularity": "Most played: the same popular tracks for everyone (the baseline to beat).",
}
_VERSION_TIME = re.compile(r"(\d{8}T\d{6})\d*Z")
_K = re.compile(r"@(\d+)$")


def model_description(model: str) -> str:
    return MODEL_DESCRIPTIONS.get(model, f"{model}: a model trained on playlists.")


def version_label(version: str) -> str:
    """``20261123T171430623Z-85d1e513`` as ``23 Nov 2026, 17:14 UTC``; other names unchanged."""
    found = _VERSION_TIME.match(version)
    if not found:
        return version
    when = datetime.strptime(found.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def significant(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant digits (0.098213 -> 0.0982, 83.0 -> 83)."""
    return f"{value:.{digits}g}"


def percent(share: float) -> str:
    return significant(100 * share) + "%"


def listener_sentence(metrics: dict, k: int | None = None) -> str | None:
    """One plain sentence of what the held-out figures of a model mean for a playlist, or None
    when the manifest records none of them. ``k`` defaults to the one in the metric names."""
    k = k or next((int(m.group(1)) for m in map(_K.search, metrics) if m), 20)
    hit = _first(metrics, "test_hit_rate_at_k", f"hit_rate@{k}")
    recall = _first(metrics, "test_recall_at_k", f"recall@{k}")
    parts = []
    if hit is not None:
        parts.append(f"finds at least one held-out track in the top {k} for {percent(hit)} of playlists")
    if recall is not None:
        parts.append(f"recovers {percent(recall)} of a playlist's held-out tracks in its top {k}")
    if not parts:
        return None
    return "On playlists it never saw, it " + " and ".join(parts) + "."


def _first(metrics: dict, *names: str) -> float | None:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
