"""What the app shows, as plain functions over DataFrames (no Streamlit): result tables with
Spotify links (``recsys.spotify.ids``), CSV export, and escaping of data strings for the few
places that render markdown."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recsys.spotify import ids

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones
# that start markup in Streamlit's flavour (incl. :emoji:/:color[...] directives and $latex$).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&\"'])")

# The audio features a track's profile and the Explorer's neighbours show (key and mode, which are
# categories, are left out), in the order shown; each only where the catalog has it.
PROFILE_FEATURES = ("danceability", "energy", "valence", "tempo", "acousticness", "instrumentalness",
                    "speechiness", "liveness", "loudness")

RESULT_COLUMNS = {
    "rank": "#", "name": "Track", "artist": "Artist", "album": "Album", "score": "Score",
    "because_name": "Because you picked", "spotify": "Spotify",
}


def spotify_url(track_id: object, name: object, artist: object) -> str:
    """The track's page on Spotify; for a track without a Spotify id, a Spotify search for it."""
    spotify_id = ids.track_id(track_id)
    return ids.track_url(spotify_id) if spotify_id else ids.search_url(f"{name} {artist}")


def spotify_ids(track_ids) -> list[str]:
    """The Spotify ids of the tracks that have one (the others have a local key), in order."""
    return [sid for sid in map(ids.track_id, track_ids) if sid]


def playable(tracks: list[dict]) -> list[dict]:
    """The tracks (dicts with ``track_id``) the Spotify player can play: those with a Spotify id."""
    return [t for t in tracks if ids.track_id(t["track_id"])]


def with_spotify_links(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (track_id, name, artist, ...) plus a ``spotify`` column of links."""
    out = table.copy()
    out["spotify"] = [spotify_url(t, n, a) for t, n, a in zip(out["track_id"], out["name"], out["artist"])]
    return out


def recommendations_view(table: pd.DataFrame) -> pd.DataFrame:
    """A ``Recommendations.table`` as shown and downloaded: rank, track, artist, album, score,
    the seed it is there because of, and the Spotify link (plus track_id last)."""
    linked = with_spotify_links(table)
    columns = [c for c in RESULT_COLUMNS if c in linked.columns] + ["track_id"]
    return linked[columns]


def neighbours_view(neighbours: pd.DataFrame, catalog: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``Recommender.similar``'s table as the Explorer shows it: track, artist, genre, similarity,
    the ``PROFILE_FEATURES`` the catalog has, the Spotify link, and track_id last. ``rows`` are
    the neighbours' catalog rows."""
    view = with_spotify_links(neighbours)
    genre = ["genre"] if "genre" in catalog.columns else []
    features = [c for c in PROFILE_FEATURES if c in catalog.columns]
    for column in genre + features:
        view[column] = catalog[column].to_numpy()[rows]
    return view[["name", "artist", *genre, "score", *features, "spotify", "track_id"]]


def feature_profile(catalog: pd.DataFrame, row: int, features=PROFILE_FEATURES) -> pd.DataFrame:
    """One row per feature of ``features`` the catalog has and the track at ``row`` has a value
    for: feature, value, and percentile (0-100: the share of catalog tracks with a value no
    higher), so features on different scales (tempo in BPM, energy 0-1) read alike."""
    out = []
    for name in features:
        if name not in catalog.columns:
            continue
        values = pd.to_numeric(catalog[name], errors="coerce").to_numpy(np.float64)
        value = values[row]
        if np.isnan(value):
            continue
        present = values[~np.isnan(values)]
        out.append({"feature": name, "value": value,
                    "percentile": 100.0 * np.count_nonzero(present <= value) / len(present)})
    return pd.DataFrame(out, columns=["feature", "value", "percentile"])


def to_csv(view: pd.DataFrame) -> bytes:
    """UTF-8 CSV of a view, with its column names as the user sees them. Text cells that a
    spreadsheet would run as a formula (leading ``= + - @``, tab or CR) get a leading apostrophe."""
    view = view.rename(columns=RESULT_COLUMNS)
    for col in view.columns[view.dtypes.map(pd.api.types.is_string_dtype)]:
        view[col] = view[col].map(_defuse_formula)
    return view.to_csv(index=False).encode("utf-8")


def _defuse_formula(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def escape_markdown(text: object) -> str:
    """``text`` with markdown/HTML markup characters backslash-escaped, so a data string put in a
    message (st.error, st.info, a caption) shows literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def code_span(text: object) -> str:
    """``text`` as an inline markdown code span (shown literally; backticks cannot close it)."""
    return "`" + str(text).replace("`", "'") + "`"


def comparison_table(report: dict) -> pd.DataFrame:
    """The models of a comparison report (``recsys.reports.write_report``'s report.json), best
    first: name, the metrics (``ndcg_at_k`` shown as ``ndcg@20``, ``ndcg_at_500`` as ``ndcg@500``),
    train seconds, ms per query and notes."""
    k = report.get("k", "k")
    rows = pd.DataFrame(report.get("models", []))
    shown = [c for c in rows.columns if c not in {"config", "k", "n_queries"}]
    return rows[shown].rename(columns=lambda c: c.replace("_at_k", f"@{k}").replace("_at_", "@"))


def auto_artist_cap(k: int, seed_artists) -> int | None:
    """The Recommend page's default cap on tracks per artist: 2 per 20 recommendations (rounded
    up), or no cap (None) when every seed is by the same artist, who is then what was asked for."""
    if len(set(seed_artists)) == 1:
        return None
    return max(1, -(-2 * k // 20))


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def catalog_details(catalog: pd.DataFrame, rows) -> list[str]:
    """"album · year" of each catalog row (``-1``: not in the catalog, an empty string), to tell
    apart tracks that share a name and artist."""
    rows = np.asarray(rows, dtype=np.int64)
    columns = [c for c in ("album", "release_year") if c in catalog]
    found = catalog[columns].take(np.maximum(rows, 0)).to_numpy(dtype=object)  # one gather
    return ["" if row < 0 else " · ".join(str(v) for v in values if not pd.isna(v) and str(v))
            for row, values in zip(rows, found)]
