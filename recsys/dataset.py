"""The canonical columnar dataset every ingest source writes and every model reads.

A dataset is one directory::

    tracks.parquet        track_idx (dense 0..n-1), track_id, name, artist, album, artist_id,
                          album_id, and whichever optional features the source has
    playlists.parquet     playlist_idx (dense), playlist_id, name, num_tracks[, genre]
    interactions.parquet  playlist_idx, track_idx, pos
    dataset.json          schema version, name, source, counts, features, created_at, fingerprint

``track_id`` is the Spotify URI (``spotify:track:...``) where the source knows it, otherwise
``recsys.text.track_key(name, artist)``. Row *i* of tracks.parquet has ``track_idx == i``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.errors import RecsysError
from recsys.text import album_key, artist_key, track_key

SCHEMA_VERSION = 1

TRACK_COLUMNS = ("track_idx", "track_id", "name", "artist", "album", "artist_id", "album_id")
AUDIO_FEATURES = (
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo",
)
# Optional track columns and their storage dtype; a source writes the ones it has.
OPTIONAL_TRACK_DTYPES = {
    "genre": "string",
    "popularity": "float32",
    "release_year": "Int16",
    "duration_ms": "Int64",
    **{name: "float32" for name in AUDIO_FEATURES},
}
PLAYLIST_COLUMNS = ("playlist_idx", "playlist_id", "name", "num_tracks")
INTERACTION_COLUMNS = ("playlist_idx", "track_idx", "pos")

FILES = ("tracks.parquet", "playlists.parquet", "interactions.parquet", "dataset.json")


class DatasetError(RecsysError):
    """A dataset directory is missing, malformed or inconsistent; the message names the file."""


@dataclass(frozen=True)
class Dataset:
    tracks: pd.DataFrame
    playlists: pd.DataFrame
    interactions: pd.DataFrame
    meta: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.meta.get("name", "unnamed")

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def n_playlists(self) -> int:
        return len(self.playlists)

    @property
    def features(self) -> list[str]:
        """Optional track features this dataset carries (genre, popularity, audio features...)."""
        return [c for c in OPTIONAL_TRACK_DTYPES if c in self.tracks.columns]

    def stats(self) -> dict:
        """Summary figures printed by ``python -m recsys stats``."""
        per_playlist = np.bincount(self.interactions["playlist_idx"], minlength=self.n_playlists)
        per_track = np.bincount(self.interactions["track_idx"], minlength=self.n_tracks)
        n_int = len(self.interactions)
        stats = {
            "name": self.name,
            "source": self.meta.get("source"),
            "playlists": self.n_playlists,
            "tracks": self.n_tracks,
            "artists": int(self.tracks["artist_id"].nunique()),
            "albums": int(self.tracks["album_id"].nunique()),
            "interactions": n_int,
            "density": n_int / max(1, self.n_playlists * self.n_tracks),
            "tracks_per_playlist": _distribution(per_playlist),
            "playlists_per_track": _distribution(per_track),
            "share_of_tracks_in_one_playlist": float(np.mean(per_track == 1)) if self.n_tracks else 0.0,
            "features": self.features,
            "fingerprint": self.meta.get("fingerprint"),
        }
        if "genre" in self.tracks.columns:
            stats["genres"] = {str(k): int(v) for k, v in self.tracks["genre"].value_counts().items()}
        return stats


def _distribution(counts: np.ndarray) -> dict:
    if len(counts) == 0:
        return {"mean": 0.0, "median": 0.0, "max": 0, "min": 0}
    return {"mean": round(float(counts.mean()), 3), "median": float(np.median(counts)),
            "min": int(counts.min()), "max": int(counts.max())}


def fingerprint(tracks: pd.DataFrame, interactions: pd.DataFrame) -> str:
    """sha256 over the ordered track ids and the interaction arrays: same content, same print."""
    h = hashlib.sha256()
    for track_id in tracks["track_id"]:
        h.update(str(track_id).encode())
        h.update(b"\0")
    for col in INTERACTION_COLUMNS:
        h.update(np.ascontiguousarray(interactions[col].to_numpy(np.int64)).tobytes())
    return h.hexdigest()


def from_rows(rows: pd.DataFrame, *, name: str, source: str) -> Dataset:
    """Build a canonical dataset from a long table, one row per (playlist, track) occurrence.

    Required columns: ``playlist_id, playlist_name, name, artist``. Optional: ``track_id``
    (else derived from name + artist), ``album``, ``artist_id``, ``album_id``, ``pos`` (else the
    row order within the playlist), ``playlist_genre`` and any column of OPTIONAL_TRACK_DTYPES.
    Repeated (playlist, track) rows are dropped; a track's attributes come from its first row.
    Indices are dense, in order of first appearance.
    """
    missing = {"playlist_id", "playlist_name", "name", "artist"} - set(rows.columns)
    if missing:
        raise DatasetError(f"rows are missing columns: {sorted(missing)}")
    rows = rows.copy()
    if "track_id" not in rows:
        rows["track_id"] = [track_key(n, a) for n, a in zip(rows["name"], rows["artist"])]
    if "album" not in rows:
        rows["album"] = ""
    if "artist_id" not in rows:
        rows["artist_id"] = [artist_key(a) for a in rows["artist"]]
    if "album_id" not in rows:
        rows["album_id"] = [album_key(b, a) for b, a in zip(rows["album"], rows["artist"])]
    if "pos" not in rows:
        rows["pos"] = rows.groupby("playlist_id", sort=False).cumcount()
    rows = rows.drop_duplicates(["playlist_id", "track_id"], keep="first")
    # Positions stay dense per playlist after de-duplication.
    rows = rows.sort_values(["playlist_id", "pos"], kind="stable")
    rows["pos"] = rows.groupby("playlist_id", sort=False).cumcount()

    playlist_codes, playlist_ids = pd.factorize(rows["playlist_id"], sort=False)
    track_codes, track_ids = pd.factorize(rows["track_id"], sort=False)
    rows["playlist_idx"] = playlist_codes.astype(np.int32)
    rows["track_idx"] = track_codes.astype(np.int32)

    first = rows.drop_duplicates("track_idx").sort_values("track_idx")
    optional = [c for c in OPTIONAL_TRACK_DTYPES if c in rows.columns]
    tracks = first[list(TRACK_COLUMNS) + optional].reset_index(drop=True)

    pl_first = rows.drop_duplicates("playlist_idx").sort_values("playlist_idx")
    playlists = pd.DataFrame({
        "playlist_idx": pl_first["playlist_idx"].to_numpy(np.int32),
        "playlist_id": pl_first["playlist_id"].astype(str).to_numpy(),
        "name": pl_first["playlist_name"].astype(str).to_numpy(),
        "num_tracks": np.bincount(playlist_codes, minlength=len(playlist_ids)).astype(np.int32),
    })
    if "playlist_genre" in rows:
        playlists["genre"] = pl_first["playlist_genre"].to_numpy()
    interactions = rows[list(INTERACTION_COLUMNS)].sort_values(["playlist_idx", "pos"]).reset_index(drop=True)
    return Dataset(*_coerce(tracks, playlists, interactions), meta={"name": name, "source": source})


def _coerce(tracks: pd.DataFrame, playlists: pd.DataFrame, interactions: pd.DataFrame):
    tracks = tracks.copy()
    tracks["track_idx"] = tracks["track_idx"].astype(np.int32)
    for col in ("track_id", "name", "artist", "album", "artist_id", "album_id"):
        tracks[col] = tracks[col].fillna("").astype("string")
    for col, dtype in OPTIONAL_TRACK_DTYPES.items():
        if col in tracks:
            tracks[col] = tracks[col].astype(dtype)
    playlists = playlists.copy()
    playlists["playlist_idx"] = playlists["playlist_idx"].astype(np.int32)
    playlists["num_tracks"] = playlists["num_tracks"].astype(np.int32)
    for col in ("playlist_id", "name") + (("genre",) if "genre" in playlists else ()):
        playlists[col] = playlists[col].fillna("").astype("string")
    interactions = interactions.astype({c: np.int32 for c in INTERACTION_COLUMNS})
    return tracks, playlists, interactions


def write_dataset(ds: Dataset, out_dir: str | os.PathLike) -> Dataset:
    """Validate ``ds`` and write it to ``out_dir`` atomically (temp dir, then rename).

    Returns the dataset as it now stands on disk (meta completed with counts and fingerprint).
    """
    tracks, playlists, interactions = _coerce(ds.tracks, ds.playlists, ds.interactions)
    _validate(tracks, playlists, interactions, where=str(out_dir))
    meta = {
        "schema_version": SCHEMA_VERSION,
        "name": ds.meta.get("name", Path(out_dir).name),
        "source": ds.meta.get("source", "unknown"),
        **{k: v for k, v in ds.meta.items() if k not in {"name", "source"}},
        "counts": {
            "playlists": len(playlists), "tracks": len(tracks), "interactions": len(interactions),
            "artists": int(tracks["artist_id"].nunique()),
        },
        "features": [c for c in OPTIONAL_TRACK_DTYPES if c in tracks.columns],
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint(tracks, interactions),
    }
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tracks.to_parquet(tmp / "tracks.parquet", index=False)
        playlists.to_parquet(tmp / "playlists.parquet", index=False)
        interactions.to_parquet(tmp / "interactions.parquet", index=False)
        (tmp / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Dataset(tracks, playlists, interactions, meta, out)


def replace_dir(src: Path, dst: Path) -> None:
    """Move directory ``src`` to ``dst``, replacing an existing ``dst`` with as short a gap as
    the OS allows (the old one is renamed aside first, then removed)."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.rename(dst, old)
        os.rename(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(src, dst)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Read a dataset directory back, checking files, columns, dtypes and index ranges."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a dataset directory (run `python -m recsys ingest ...` first)")
    for name in FILES:
        if not (root / name).is_file():
            raise DatasetError(f"{root / name}: missing")
    try:
        meta = json.loads((root / "dataset.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{root / 'dataset.json'}: not valid JSON ({exc})") from exc
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise DatasetError(f"{root / 'dataset.json'}: schema_version {meta.get('schema_version')!r}, "
                           f"this code reads {SCHEMA_VERSION}")
    frames = {}
    for name in ("tracks", "playlists", "interactions"):
        try:
            frames[name] = pd.read_parquet(root / f"{name}.parquet")
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DatasetError(f"{root / (name + '.parquet')}: unreadable ({exc})") from exc
    _validate(frames["tracks"], frames["playlists"], frames["interactions"], where=str(root))
    return Dataset(frames["tracks"], frames["playlists"], frames["interactions"], meta, root)


def _validate(tracks: pd.DataFrame, playlists: pd.DataFrame, interactions: pd.DataFrame, where: str) -> None:
    def need(df, cols, fname, integer=()):
        lacking = [c for c in cols if c not in df.columns]
        if lacking:
            raise DatasetError(f"{where}/{fname}: missing columns {lacking}")
        for c in integer:
            if not pd.api.types.is_integer_dtype(df[c]):
                raise DatasetError(f"{where}/{fname}: column {c!r} has dtype {df[c].dtype}, expected integers")

    need(tracks, TRACK_COLUMNS, "tracks.parquet", integer=("track_idx",))
    need(playlists, PLAYLIST_COLUMNS, "playlists.parquet", integer=("playlist_idx", "num_tracks"))
    need(interactions, INTERACTION_COLUMNS, "interactions.parquet", integer=INTERACTION_COLUMNS)
    if not np.array_equal(tracks["track_idx"].to_numpy(), np.arange(len(tracks))):
        raise DatasetError(f"{where}/tracks.parquet: track_idx is not dense 0..n-1 in row order")
    if not np.array_equal(playlists["playlist_idx"].to_numpy(), np.arange(len(playlists))):
        raise DatasetError(f"{where}/playlists.parquet: playlist_idx is not dense 0..n-1 in row order")
    if tracks["track_id"].duplicated().any():
        raise DatasetError(f"{where}/tracks.parquet: duplicate track_id values")
    for col, n, fname in (("track_idx", len(tracks), "tracks"), ("playlist_idx", len(playlists), "playlists")):
        values = interactions[col].to_numpy()
        if len(values) and (values.min() < 0 or values.max() >= n):
            raise DatasetError(f"{where}/interactions.parquet: {col} outside 0..{n - 1} ({fname}.parquet)")
