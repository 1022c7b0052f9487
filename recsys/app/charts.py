"""Altair chart builders for the Explorer and Training pages: plain functions from DataFrames to
charts (no Streamlit), so tests can inspect the chart spec without a browser."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

ROLE_ORDER = ["catalog", "neighbour", "selected"]
OTHER = "other"


def neighbourhood_points(catalog: pd.DataFrame, projection: pd.DataFrame, selected_row: int,
                         neighbour_rows: np.ndarray, *, sample: int = 3000, color_by: str = "genre",
                         top_artists: int = 12, seed: int = 0) -> pd.DataFrame:
    """Points for the projection scatter: a reproducible sample of the catalog plus the selected
    track and its neighbours (always included; rows of ``catalog``, whose row i is
    ``projection`` row i), with columns x, y, track, artist, genre, role (catalog / neighbour /
    selected) and colour (genre, or artist with all but the ``top_artists`` most frequent in the
    sample folded into "other")."""
    rng = np.random.default_rng(seed)
    n = len(catalog)
    background = rng.choice(n, size=min(sample, n), replace=False) if n else np.empty(0, np.int64)
    neighbour_rows = np.asarray(neighbour_rows, dtype=np.int64)
    focus = np.concatenate([[selected_row], neighbour_rows[neighbour_rows != selected_row]])
    rows = np.concatenate([np.setdiff1d(background, focus), focus])
    points = pd.DataFrame({
        "x": projection["x"].to_numpy()[rows],
        "y": projection["y"].to_numpy()[rows],
        "track": catalog["name"].to_numpy()[rows],
        "artist": catalog["artist"].to_numpy()[rows],
        "genre": (catalog["genre"].to_numpy()[rows] if "genre" in catalog.columns
                  else np.full(len(rows), "unknown", dtype=object)),
    })
    points["role"] = "catalog"
    points.loc[points.index[-len(focus):], "role"] = "neighbour"
    points.loc[points.index[-len(focus)], "role"] = "selected"
    if color_by == "artist":
        frequent = points["artist"].value_counts().index[:top_artists]
        points["colour"] = points["artist"].where(points["artist"].isin(frequent), OTHER)
    else:
        points["colour"] = points["genre"].fillna("unknown")
    return points


def projection_chart(points: pd.DataFrame, *, color_title: str = "genre") -> alt.Chart:
    """Scatter of ``neighbourhood_points``: the catalog sample faint, the neighbours large and
    outlined, the selected track a diamond; tooltips with track, artist and genre; scroll to zoom,
    drag to pan."""
    tooltip = [alt.Tooltip("track:N", title="track"), alt.Tooltip("artist:N"), alt.Tooltip("genre:N")]
    base = alt.Chart(points).encode(
        x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
        color=alt.Color("colour:N", title=color_title), tooltip=tooltip)
    background = base.transform_filter(alt.datum.role == "catalog").mark_circle(size=14, opacity=0.35)
    neighbours = base.transform_filter(alt.datum.role == "neighbour").mark_circle(
        size=160, opacity=1, stroke="white", strokeWidth=1.5)
    selected = base.transform_filter(alt.datum.role == "selected").mark_point(
        shape="diamond", size=420, filled=True, opacity=1, stroke="white", strokeWidth=2)
    return alt.layer(background, neighbours, selected).properties(height=520).interactive()


def curves_long(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-epoch curves of several versions in long form (version, epoch, metric, value): every
    numeric column but ``epoch`` becomes a metric. Versions without rows are left out."""
    frames = []
    for label, frame in curves.items():
        if frame.empty or "epoch" not in frame.columns:
            continue
        numeric = [c for c in frame.columns if c != "epoch" and pd.api.types.is_numeric_dtype(frame[c])]
        long = frame.melt(id_vars="epoch", value_vars=numeric, var_name="metric", value_name="value")
        frames.append(long.assign(version=label).dropna(subset=["value"]))
    if not frames:
        return pd.DataFrame(columns=["version", "epoch", "metric", "value"])
    return pd.concat(frames, ignore_index=True)[["version", "epoch", "metric", "value"]]


def curves_chart(long: pd.DataFrame, metrics: list[str]) -> alt.Chart:
    """One small line chart per metric (independent y scales), one line per version."""
    data = long[long["metric"].isin(metrics)]
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch"),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("version:N", legend=alt.Legend(orient="bottom", labelLimit=480)),
        tooltip=["version:N", "epoch:Q", "metric:N", alt.Tooltip("value:Q", format=".4f")],
    ).properties(width=320, height=220).facet(
        facet=alt.Facet("metric:N", title=None, sort=metrics), columns=2,
    ).resolve_scale(y="independent")


def comparison_chart(table: pd.DataFrame, metric: str) -> alt.Chart:
    """Horizontal bars of one metric column of ``tables.comparison_table``, best on top."""
    return alt.Chart(table).mark_bar().encode(
        x=alt.X(f"{metric}:Q", title=metric),
        y=alt.Y("name:N", sort="-x", title=None),
        tooltip=["name:N", alt.Tooltip(f"{metric}:Q", format=".4f")],
    ).properties(height=alt.Step(22))
