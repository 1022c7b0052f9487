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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recsys.files import publish_dir, remove_leftovers
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
    "subgenre": "string",
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
    _hash_track_ids(h, tracks["track_id"].tolist())
    for col in INTERACTION_COLUMNS:
        _hash_integers(h, interactions[col].to_numpy())
    return h.hexdigest()


# The fingerprint's two parts, so DatasetWriter can compute it chunk by chunk: all track ids in
# order, each followed by NUL, then each interaction column whole, as int64.
def _hash_track_ids(h, track_ids: list) -> None:
    if track_ids:
        h.update(("\0".join(map(str, track_ids)) + "\0").encode())


def _hash_integers(h, values: np.ndarray) -> None:
    h.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())


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
    return _coerce_tracks(tracks), _coerce_playlists(playlists), _coerce_interactions(interactions)


def _coerce_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    tracks = tracks.copy()
    tracks["track_idx"] = tracks["track_idx"].astype(np.int32)
    for col in ("track_id", "name", "artist", "album", "artist_id", "album_id"):
        tracks[col] = tracks[col].fillna("").astype("string")
    for col, dtype in OPTIONAL_TRACK_DTYPES.items():
        if col in tracks:
            tracks[col] = tracks[col].astype(dtype)
    return tracks


def _coerce_playlists(playlists: pd.DataFrame) -> pd.DataFrame:
    playlists = playlists.copy()
    playlists["playlist_idx"] = playlists["playlist_idx"].astype(np.int32)
    playlists["num_tracks"] = playlists["num_tracks"].astype(np.int32)
    for col in ("playlist_id", "name") + (("genre",) if "genre" in playlists else ()):
        playlists[col] = playlists[col].fillna("").astype("string")
    return playlists


def _coerce_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    return interactions.astype({c: np.int32 for c in INTERACTION_COLUMNS})


def write_dataset(ds: Dataset, out_dir: str | os.PathLike) -> Dataset:
    """Validate ``ds`` and write it to ``out_dir`` atomically (temp dir, then rename).

    Returns the dataset as it now stands on disk (meta completed with counts and fingerprint).
    """
    tracks, playlists, interactions = _coerce(ds.tracks, ds.playlists, ds.interactions)
    _validate(tracks, playlists, interactions, where=str(out_dir))
    meta = _dataset_meta(
        ds.meta, Path(out_dir),
        counts={"playlists": len(playlists), "tracks": len(tracks), "interactions": len(interactions),
                "artists": int(tracks["artist_id"].nunique())},
        track_columns=tracks.columns, fingerprint=fingerprint(tracks, interactions))
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the dataset is meant to be shared
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


def _dataset_meta(meta: dict, out: Path, *, counts: dict, track_columns, fingerprint: str) -> dict:
    """The dataset.json content: the caller's meta completed with schema, counts and fingerprint."""
    return {
        "schema_version": SCHEMA_VERSION,
        "name": meta.get("name", out.name),
        "source": meta.get("source", "unknown"),
        **{k: v for k, v in meta.items() if k not in {"name", "source"}},
        "counts": counts,
        "features": [c for c in OPTIONAL_TRACK_DTYPES if c in track_columns],
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
    }


class DatasetWriter:
    """Write a dataset chunk by chunk, for sources too large to hold in memory (the full MPD).

    ``add_tracks`` / ``add_playlists`` take frames whose ``track_idx`` / ``playlist_idx`` continue
    where the previous chunk stopped; ``add_interactions`` takes rows in (playlist, pos) order.
    Every chunk is coerced and checked as ``write_dataset`` does, and must have the first chunk's
    columns. ``close(**meta)`` checks index ranges and track-id uniqueness, writes dataset.json with
    the fingerprint ``write_dataset`` would give the same content, and moves the directory into
    place atomically. Use it as a context manager: leaving the block without ``close()`` (or by an
    exception) removes everything written so far.
    """

    def __init__(self, out_dir: str | os.PathLike, *, name: str | None = None, source: str = "unknown"):
        self.out = Path(out_dir)
        self.meta = {"name": name or self.out.name, "source": source}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=self.out.parent))
        self._tmp.chmod(0o755)
        self._writers: dict = {}
        self._rows = dict.fromkeys(_REQUIRED, 0)
        self._hash = hashlib.sha256()  # track ids as they come; interactions at close()
        self._index_max = {"playlist_idx": -1, "track_idx": -1}
        self._closed = False

    @property
    def n_tracks(self) -> int:
        return self._rows["tracks.parquet"]

    @property
    def n_playlists(self) -> int:
        return self._rows["playlists.parquet"]

    def add_tracks(self, tracks: pd.DataFrame) -> None:
        tracks = _coerce_tracks(tracks)
        self._append("tracks.parquet", tracks, dense="track_idx")
        _hash_track_ids(self._hash, tracks["track_id"].tolist())

    def add_playlists(self, playlists: pd.DataFrame) -> None:
        self._append("playlists.parquet", _coerce_playlists(playlists), dense="playlist_idx")

    def add_interactions(self, interactions: pd.DataFrame) -> None:
        interactions = _coerce_interactions(interactions)
        for col in self._index_max:
            values = interactions[col].to_numpy()
            if len(values) and values.min() < 0:
                raise DatasetError(f"{self.out}/interactions.parquet: negative {col}")
            if len(values):
                self._index_max[col] = max(self._index_max[col], int(values.max()))
        self._append("interactions.parquet", interactions)

    def _append(self, fname: str, frame: pd.DataFrame, dense: str | None = None) -> None:
        _check_columns(frame, fname, str(self.out))
        start = self._rows[fname]
        if dense and not np.array_equal(frame[dense].to_numpy(), np.arange(start, start + len(frame))):
            raise DatasetError(f"{self.out}/{fname}: {dense} of a chunk does not continue at {start}")
        table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)  # chunks are small
        if fname not in self._writers:
            # Dictionary-encoding integer columns costs more time than it saves space.
            strings = [f.name for f in table.schema if not pa.types.is_integer(f.type)]
            self._writers[fname] = pq.ParquetWriter(self._tmp / fname, table.schema, use_dictionary=strings)
        try:
            self._writers[fname].write_table(table)
        except ValueError as exc:  # the chunk's columns differ from the first chunk's
            raise DatasetError(f"{self.out}/{fname}: {exc}") from exc
        self._rows[fname] += len(frame)

    def close(self, **meta) -> dict:
        """Finish the files, write dataset.json (with ``meta`` added) and move into place."""
        empty = {"tracks.parquet": (_coerce_tracks, TRACK_COLUMNS),
                 "playlists.parquet": (_coerce_playlists, PLAYLIST_COLUMNS),
                 "interactions.parquet": (_coerce_interactions, INTERACTION_COLUMNS)}
        for fname, (coerce, columns) in empty.items():
            if fname not in self._writers:
                self._append(fname, coerce(pd.DataFrame({c: [] for c in columns})))
        for writer in self._writers.values():
            writer.close()
        for col, n in (("track_idx", self.n_tracks), ("playlist_idx", self.n_playlists)):
            if self._index_max[col] >= n:
                raise DatasetError(f"{self.out}/interactions.parquet: {col} outside 0..{n - 1}")
        ids = pq.read_table(self._tmp / "tracks.parquet", columns=["track_id", "artist_id"])
        if pc.count_distinct(ids["track_id"]).as_py() != ids.num_rows:
            raise DatasetError(f"{self.out}/tracks.parquet: duplicate track_id values")
        interactions = pq.ParquetFile(self._tmp / "interactions.parquet")
        for col in INTERACTION_COLUMNS:
            for batch in interactions.iter_batches(columns=[col]):
                _hash_integers(self._hash, batch.column(0).to_numpy())
        full_meta = _dataset_meta(
            {**self.meta, **meta}, self.out,
            counts={"playlists": self.n_playlists, "tracks": self.n_tracks,
                    "interactions": self._rows["interactions.parquet"],
                    "artists": pc.count_distinct(ids["artist_id"]).as_py()},
            track_columns=pq.read_schema(self._tmp / "tracks.parquet").names,
            fingerprint=self._hash.hexdigest())
        (self._tmp / "dataset.json").write_text(json.dumps(full_meta, indent=2) + "\n")
        replace_dir(self._tmp, self.out)
        self._closed = True
        return full_meta

    def abort(self) -> None:
        """Remove everything written so far."""
        for writer in self._writers.values():
            writer.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._closed:
            self.abort()


def replace_dir(src: Path, dst: Path) -> None:
    """Publish the fully written dataset directory ``src`` at ``dst`` in one atomic, fsynced step
    (``recsys.files.publish_dir``), then tidy what crashed earlier writers left beside it."""
    publish_dir(src, dst)
    remove_leftovers(dst)


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


# Per file: the columns it must have and which of them must hold integers.
_REQUIRED = {
    "tracks.parquet": (TRACK_COLUMNS, ("track_idx",)),
    "playlists.parquet": (PLAYLIST_COLUMNS, ("playlist_idx", "num_tracks")),
    "interactions.parquet": (INTERACTION_COLUMNS, INTERACTION_COLUMNS),
}


def _check_columns(df: pd.DataFrame, fname: str, where: str) -> None:
    columns, integer = _REQUIRED[fname]
    lacking = [c for c in columns if c not in df.columns]
    if lacking:
        raise DatasetError(f"{where}/{fname}: missing columns {lacking}")
    for c in integer:
        if not pd.api.types.is_integer_dtype(df[c]):
            raise DatasetError(f"{where}/{fname}: column {c!r} has dtype {df[c].dtype}, expected integers")


def _validate(tracks: pd.DataFrame, playlists: pd.DataFrame, interactions: pd.DataFrame, where: str) -> None:
    _check_columns(tracks, "tracks.parquet", where)
    _check_columns(playlists, "playlists.parquet", where)
    _check_columns(interactions, "interactions.parquet", where)
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
