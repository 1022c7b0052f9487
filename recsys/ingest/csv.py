"""``python -m recsys ingest csv FILE --out DIR``: a playlist CSV -> canonical dataset.

Two schemas are understood, each by an explicit column mapping (``SCHEMAS``):

- ``spotify_songs``: the embedded ``data/spotify_songs.csv`` (``track_name, album, album_release,
  artist, popularity, genres, playlist, duration_sec``). It has no Spotify ids, so a track is
  keyed by ``recsys.text.track_key(name, artist)`` and a playlist by its name (``csv:<name>``).
- ``tidytuesday``: the full TidyTuesday 2020-01-21 file (``track_id, ..., playlist_id,
  playlist_genre, <audio features>, duration_ms``). Spotify ids become URIs.

Both give release_year (from ``dd-mm-yyyy``, ``yyyy-mm-dd``, ``yyyy-mm`` or ``yyyy`` dates),
duration_ms, popularity, and a track genre: the most common genre of the playlists holding the
track (ties go to the alphabetically first). A gzipped file is read the same way.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from recsys.dataset import AUDIO_FEATURES, Dataset, from_rows, write_dataset
from recsys.errors import RecsysError
from recsys.text import track_key


class CsvIngestError(RecsysError):
    """The CSV is unreadable or matches neither schema; the message names the file and columns."""


@dataclass(frozen=True)
class CsvSchema:
    """How one CSV layout maps onto ``from_rows`` columns (source column -> canonical column)."""

    name: str
    required: dict[str, str]
    optional: dict[str, str]
    numeric: tuple[str, ...]  # canonical columns parsed as numbers

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}


SPOTIFY_SONGS = CsvSchema(
    name="spotify_songs",
    required={"track_name": "name", "artist": "artist", "playlist": "playlist_name"},
    optional={"album": "album", "album_release": "release_date", "popularity": "popularity",
              "genres": "playlist_genre", "duration_sec": "duration_sec"},
    numeric=("popularity", "duration_sec"),
)
TIDYTUESDAY = CsvSchema(
    name="tidytuesday",
    required={"track_id": "track_id", "track_name": "name", "track_artist": "artist",
              "playlist_id": "playlist_id", "playlist_name": "playlist_name"},
    optional={"track_popularity": "popularity", "track_album_id": "album_id",
              "track_album_name": "album", "track_album_release_date": "release_date",
              "playlist_genre": "playlist_genre", "duration_ms": "duration_ms",
              **{feature: feature for feature in AUDIO_FEATURES}},
    numeric=("popularity", "duration_ms", *AUDIO_FEATURES),
)
SCHEMAS = (SPOTIFY_SONGS, TIDYTUESDAY)

_YEAR = r"(?<!\d)(\d{4})(?!\d)"  # the four-digit group of any of the date formats


def read_csv(path: str | os.PathLike) -> tuple[pd.DataFrame, CsvSchema]:
    """Read ``path`` (plain or gzipped) as text, with a byte progress bar, and pick its schema."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            with tqdm.wrapattr(raw, "read", total=path.stat().st_size, desc=f"reading {path.name}",
                               unit="B", unit_scale=True, unit_divisor=1024) as tracked:
                # Text only: names like "NA" or "null" are real titles, numbers are parsed below.
                frame = pd.read_csv(gzip.open(tracked) if gzipped else tracked, dtype=str,
                                    keep_default_na=False, na_values=[])
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
            gzip.BadGzipFile, EOFError) as exc:
        raise CsvIngestError(f"{path}: not a readable CSV file ({exc})") from exc
    return frame, detect_schema(frame.columns, path)


def detect_schema(columns, path: str | os.PathLike) -> CsvSchema:
    """The schema whose required columns ``columns`` has, else a CsvIngestError naming what lacks."""
    present = set(columns)
    for schema in SCHEMAS:
        if set(schema.required) <= present:
            return schema
    # Name the missing columns of the closest schema first.
    closest = sorted(SCHEMAS, key=lambda s: -len(present & set(s.columns)))
    wanted = "; ".join(f"{s.name} needs {sorted(set(s.required) - present)}" for s in closest)
    raise CsvIngestError(f"{path}: missing required columns ({wanted}); "
                         f"the file has columns {sorted(present)}")


def to_rows(frame: pd.DataFrame, schema: CsvSchema, path: str | os.PathLike) -> pd.DataFrame:
    """Map a CSV read by ``read_csv`` onto the long table ``recsys.dataset.from_rows`` takes."""
    rows = frame[[c for c in schema.columns if c in frame.columns]].rename(columns=schema.columns)
    for column in schema.numeric:
        if column in rows:
            rows[column] = _numbers(rows[column], column, path)
    if schema is TIDYTUESDAY:
        rows["track_id"] = _spotify_uri(rows["track_id"], "track")
        rows["playlist_id"] = _spotify_uri(rows["playlist_id"], "playlist")
        if "album_id" in rows:
            rows["album_id"] = _spotify_uri(rows["album_id"], "album")
    else:
        rows["track_id"] = [track_key(n, a) for n, a in zip(rows["name"], rows["artist"])]
        rows["playlist_id"] = "csv:" + rows["playlist_name"]
    if "duration_sec" in rows:
        rows["duration_ms"] = (rows.pop("duration_sec") * 1000).round().astype("Int64")
    if "release_date" in rows:
        rows["release_year"] = pd.to_numeric(rows.pop("release_date").str.extract(_YEAR)[0]).astype("Int16")
    if "playlist_genre" in rows:
        rows["genre"] = rows["track_id"].map(track_genres(rows))
    return rows


def track_genres(rows: pd.DataFrame) -> pd.Series:
    """Each track's most common playlist genre (a repeated row counts once), indexed by track_id."""
    pairs = rows.drop_duplicates(["playlist_id", "track_id"])
    pairs = pairs[pairs["playlist_genre"] != ""]
    counts = pairs.groupby(["track_id", "playlist_genre"]).size().rename("n").reset_index()
    counts = counts.sort_values(["track_id", "n", "playlist_genre"], ascending=[True, False, True])
    return counts.drop_duplicates("track_id").set_index("track_id")["playlist_genre"]


def _numbers(values: pd.Series, column: str, path) -> pd.Series:
    text = values.str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & (text != "")
    if bad.any():
        first = bad.to_numpy().argmax()
        raise CsvIngestError(f"{path}: column {column!r} has {int(bad.sum())} non-numeric values, "
                             f"first {values.iloc[first]!r} on line {first + 2}")
    return numbers


def _spotify_uri(ids: pd.Series, kind: str) -> pd.Series:
    prefix = f"spotify:{kind}:"
    ids = ids.str.strip()
    return ids.where(ids.str.startswith(prefix) | (ids == ""), prefix + ids)


def ingest_csv(path: str | os.PathLike, out_dir: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read ``path``, build the canonical dataset and write it to ``out_dir``; returns it."""
    frame, schema = read_csv(path)
    with tqdm(total=2, desc="building dataset", unit="step") as progress:
        rows = to_rows(frame, schema, path)
        dataset = from_rows(rows, name=name or Path(out_dir).name, source=f"csv:{schema.name}")
        progress.update()
        dataset.meta.update(input=str(path), input_rows=len(frame))
        written = write_dataset(dataset, out_dir)
        progress.update()
    return written


def run(args) -> int:
    dataset = ingest_csv(args.file, args.out, args.name)
    counts = dataset.meta["counts"]
    repeated = dataset.meta["input_rows"] - counts["interactions"]
    print(f"{args.file} ({dataset.meta['source']}): {counts['playlists']:,} playlists, "
          f"{counts['tracks']:,} tracks, {counts['artists']:,} artists, "
          f"{counts['interactions']:,} interactions ({repeated:,} repeated rows dropped)")
    print(f"wrote {dataset.path}")
    return 0
