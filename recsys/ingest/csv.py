"""``python -m recsys ingest csv FILE --out DIR``: a playlist CSV -> canonical dataset.

Two schemas are understood, each by an explicit column mapping (``SCHEMAS``):

- ``spotify_songs``: a cut-down export of the TidyTuesday data (``track_name, album, album_release,
  artist, popularity, genres, playlist, duration_sec``). It has no Spotify ids, so a track is
  keyed by ``recsys.text.track_key(name, artist)`` and a playlist by its name (``csv:<name>``).
- ``tidytuesday``: the full TidyTuesday 2020-01-21 file, the embedded default
  ``data/tidytuesday_spotify_songs.csv.gz`` (``track_id, ..., playlist_id,
  playlist_genre, <audio features>, duration_ms``). Spotify ids become URIs.

Both give release_year (from ``dd-mm-yyyy``, ``yyyy-mm-dd``, ``yyyy-mm`` or ``yyyy`` dates),
duration_ms, popularity, and a track genre (and, for tidytuesday, sub-genre): the most common
genre of the playlists holding the track (ties go to the alphabetically first). A gzipped file
is read the same way.

A structurally damaged file is refused, naming its line, rather than read with values in the wrong
columns: a quoted field that is never closed (pandas' lenient parser would let it swallow the
lines after it), or a first data line with more fields than the header (pandas would take the
extra leading fields for an index).
"""
from __future__ import annotations

import csv
import gzip
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from recsys.data.dataset import AUDIO_FEATURES, Dataset, from_rows, write_dataset
from recsys.errors import RecsysError
from recsys.spotify.ids import uri_prefix
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
              "playlist_genre": "playlist_genre", "playlist_subgenre": "playlist_subgenre",
              "duration_ms": "duration_ms",
              **{feature: feature for feature in AUDIO_FEATURES}},
    numeric=("popularity", "duration_ms", *AUDIO_FEATURES),
)
SCHEMAS = (SPOTIFY_SONGS, TIDYTUESDAY)

_YEAR = r"(?<!\d)(\d{4})(?!\d)"  # the four-digit group of any of the date formats
_UNREADABLE = (UnicodeDecodeError, gzip.BadGzipFile, EOFError)  # not text, or a damaged gzip


def read_csv(path: str | os.PathLike) -> tuple[pd.DataFrame, CsvSchema]:
    """Read ``path`` (plain or gzipped) as text, with a byte progress bar, and pick its schema."""
    path = Path(path)
    gzipped = False
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            with tqdm.wrapattr(raw, "read", total=path.stat().st_size, desc=f"reading {path.name}",
                               unit="B", unit_scale=True, unit_divisor=1024) as tracked:
                # Text only: names like "NA" or "null" are real titles, numbers are parsed below.
                frame = pd.read_csv(gzip.open(tracked) if gzipped else tracked, dtype=str,
                                    keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, *_UNREADABLE) as exc:
        if isinstance(exc, pd.errors.ParserError):
            check_quotes(path, gzipped)  # an unclosed quote is the usual cause: name its line
        raise CsvIngestError(f"{path}: not a readable CSV file ({exc})") from exc
    # Only an unclosed quote or a real multi-line field puts a line break in a cell; telling them
    # apart takes a second, strict pass, so only files with such a cell pay for it.
    if any(frame[column].str.contains("[\r\n]").any() for column in frame.columns):
        check_quotes(path, gzipped)
    if not isinstance(frame.index, pd.RangeIndex):
        raise CsvIngestError(f"{path}: line 2 has more fields than the header line "
                             f"({len(frame.columns)} columns)")
    return frame, detect_schema(frame.columns, path)


def check_quotes(path: str | os.PathLike, gzipped: bool = False) -> None:
    """Raise a CsvIngestError naming the line where a record whose quoted field is not closed
    properly starts; a file whose quoting is well-formed passes."""
    record_start = 1
    # The csv module refuses fields over 131,072 characters by default (pandas has no such
    # limit); lifted here, so that such a field is read, not mistaken for an unclosed quote.
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8", newline="") as text:
            reader = csv.reader(text, strict=True)
            for _ in reader:
                record_start = reader.line_num + 1
    except csv.Error as exc:
        raise CsvIngestError(
            f"{path}: the record starting on line {record_start} has a quoted field that is not "
            f"closed properly ({exc}); read leniently it would swallow the lines after it") from exc
    except _UNREADABLE as exc:
        raise CsvIngestError(f"{path}: not a readable CSV file ({exc})") from exc
    finally:
        csv.field_size_limit(limit)


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
    """Map a CSV read by ``read_csv`` onto the long table ``recsys.data.dataset.from_rows`` takes."""
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
    for source, column in (("playlist_genre", "genre"), ("playlist_subgenre", "subgenre")):
        if source in rows:
            rows[column] = rows["track_id"].map(track_genres(rows, source))
    return rows


def track_genres(rows: pd.DataFrame, column: str = "playlist_genre") -> pd.Series:
    """Each track's most common value of the playlist label ``column`` (genre or sub-genre; a
    repeated row counts once, ties go to the alphabetically first), indexed by track_id."""
    pairs = rows.drop_duplicates(["playlist_id", "track_id"])
    pairs = pairs[pairs[column] != ""]
    counts = pairs.groupby(["track_id", column]).size().rename("n").reset_index()
    counts = counts.sort_values(["track_id", "n", column], ascending=[True, False, True])
    return counts.drop_duplicates("track_id").set_index("track_id")[column]


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
    prefix = uri_prefix(kind)
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
