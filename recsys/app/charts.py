"""Altair chart builders for the Explorer and Training pages: plain functions from DataFrames to
charts (no Streamlit), so tests can inspect the chart spec without a browser."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

ROLE_ORDER = ["catalog", "neighbour", "selected"]
OTHER = "other"
# Categorical colours for genres and artists, in the order they are handed out. Each has a
# contrast of at least 3:1 against both Streamlit themes' backgrounds (#ffffff and #0e1117) and
# the eleven (with OTHER_GREY) are at least 25 apart in CIELAB, so the six TidyTuesday genres
# never share a hue (tests/test_app.py checks both).
PALETTE = ("#e6550d", "#3182bd", "#31a354", "#d6336c", "#8c6bb1", "#b8860b", "#17a2b8", "#a0522d",
           "#7f8f00", "#c51b8a")
OTHER_GREY = "#808080"  # "other" artists and tracks without a value: no palette colour is grey
# Low → high for an audio feature: blue, magenta, orange (all mid-luminance, as above).
FEATURE_RAMP = ("#3182bd", "#c51b8a", "#e6550d")
# The audio features the map can be coloured by, when the catalog has them.
COLOUR_FEATURES = ("energy", "valence", "danceability", "tempo")
TOP_ARTISTS = len(PALETTE)


def colour_options(catalog: pd.DataFrame) -> list[str]:
    """What the map can be coloured by: genre (when the catalog has one), artist, and each of
    ``COLOUR_FEATURES`` that has at least one value."""
    return ((["genre"] if "genre" in catalog.columns else []) + ["artist"]
            + [f for f in COLOUR_FEATURES if f in catalog.columns and catalog[f].notna().any()])


def neighbourhood_points(catalog: pd.DataFrame, projection: pd.DataFrame, selected_row: int,
                         neighbour_rows: np.ndarray, *, sample: int = 3000, color_by: str = "genre",
                         top_artists: int = TOP_ARTISTS, seed: int = 0) -> pd.DataFrame:
    """Points for the projection scatter: a reproducible sample of the catalog plus the selected
    track and its neighbours (always included; rows of ``catalog``, whose row i is
    ``projection`` row i), with columns x, y, track, artist, genre, role (catalog / neighbour /
    selected) and colour: genre; artist, with all but the ``top_artists`` most frequent in the
    sample folded into "other"; or the value of an audio feature (float, NaN where missing)."""
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
    elif color_by == "genre":
        points["colour"] = points["genre"].fillna("unknown")
    elif color_by in COLOUR_FEATURES and color_by in catalog.columns:
        points["colour"] = pd.to_numeric(catalog[color_by], errors="coerce").to_numpy(np.float64)[rows]
    else:
        raise ValueError(f"cannot colour the map by {color_by!r}; choose one of {colour_options(catalog)}")
    return points


def _colour_encoding(points: pd.DataFrame, title: str):
    """Categories get ``PALETTE`` in name order (so a genre keeps its colour from one neighbourhood
    to the next) with "other" last and grey; a feature
    gets ``FEATURE_RAMP``, with grey for tracks that lack a value."""
    if pd.api.types.is_numeric_dtype(points["colour"]):
        return alt.condition(alt.expr.isValid(alt.datum.colour) & alt.expr.isFinite(alt.datum.colour),
                             alt.Color("colour:Q", title=title, scale=alt.Scale(range=list(FEATURE_RAMP))),
                             alt.value(OTHER_GREY))
    domain = sorted(c for c in points["colour"].unique() if c != OTHER)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(domain))]
    if (points["colour"] == OTHER).any():
        domain, colours = domain + [OTHER], colours + [OTHER_GREY]
    return alt.Color("colour:N", title=title, scale=alt.Scale(domain=domain, range=colours),
                     legend=alt.Legend(orient="bottom", columns=4, labelLimit=160, symbolOpacity=1))


def projection_chart(points: pd.DataFrame, *, color_title: str = "genre") -> alt.Chart:
    """Scatter of ``neighbourhood_points``: the catalog sample faint, the neighbours large and
    ringed, the selected track a ringed diamond; tooltips with track, artist, genre (and the
    feature coloured by); scroll to zoom, drag to pan. Each ring is black under white, so it
    shows on the light and the dark theme alike."""
    tooltip = [alt.Tooltip("track:N", title="track"), alt.Tooltip("artist:N"), alt.Tooltip("genre:N")]
    if pd.api.types.is_numeric_dtype(points["colour"]):
        tooltip.append(alt.Tooltip("colour:Q", title=color_title, format=".3~f"))
    base = alt.Chart(points).encode(x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
                                    color=_colour_encoding(points, color_title), tooltip=tooltip)
    background = base.transform_filter(alt.datum.role == "catalog").mark_circle(size=14, opacity=0.35)
    layers = [background]
    for role, shape, size in (("neighbour", "circle", 160), ("selected", "diamond", 420)):
        chosen = base.transform_filter(alt.datum.role == role)
        layers += [chosen.mark_point(shape=shape, size=size, filled=True, opacity=1),
                   chosen.mark_point(shape=shape, size=size * 1.8, filled=False, opacity=1,
                                     stroke="black", strokeWidth=4),
                   chosen.mark_point(shape=shape, size=size * 1.8, filled=False, opacity=1,
                                     stroke="white", strokeWidth=1.5)]
    return alt.layer(*layers).properties(height=520).interactive()


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


def curves_chart(long: pd.DataFrame, metric: str) -> alt.Chart:
    """One metric's per-epoch curve, one line per version, as wide as its container (so a phone
    shows it whole); the versions are listed one per line under the plot, never cut off."""
    data = long[long["metric"] == metric]
    return alt.Chart(data, title=metric).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch"),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("version:N", legend=alt.Legend(orient="bottom", direction="vertical", columns=1,
                                                       title=None, labelLimit=0)),
        tooltip=["version:N", "epoch:Q", "metric:N", alt.Tooltip("value:Q", format=".4f")],
    ).properties(width="container", height=220)


def comparison_chart(table: pd.DataFrame, metric: str) -> alt.Chart:
    """Horizontal bars of one metric column of ``tables.comparison_table``, best on top."""
    return alt.Chart(table).mark_bar().encode(
        x=alt.X(f"{metric}:Q", title=metric),
        y=alt.Y("name:N", sort="-x", title=None),
        tooltip=["name:N", alt.Tooltip(f"{metric}:Q", format=".4f")],
    ).properties(height=alt.Step(22))
