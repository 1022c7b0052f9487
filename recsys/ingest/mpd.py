"""``python -m recsys ingest mpd PATH --out DIR``: Million Playlist Dataset -> canonical dataset.

PATH is a directory of slice files ``mpd.slice.<a>-<b>.json`` (read in slice order, plus a
``challenge_set.json`` found beside them) or one such file. The formats are those documented
with the MPD and the RecSys Challenge 2018; ``MpdSlice`` and ``ChallengeSet`` below spell out
the fields read, and anything else in the files is ignored.

Worker processes decode whole files with msgspec's typed decoder and hand back compact columns
per file; the main process maps track URIs to dense ids as results arrive, in file order, and
appends each file's rows to the Parquet files (``recsys.data.dataset.DatasetWriter``). At most two
results per worker are in flight, so memory depends on the number of distinct tracks, not on
the number of slices. A file that is truncated, not JSON or of the wrong shape is reported by
name and reason and skipped; every good file is kept. A malformed playlist record (a field
missing or of the wrong type) costs only itself: that file alone is decoded again playlist by
playlist, its good playlists are kept and each bad one is reported by file, index, pid and reason.

Ids: playlist ``mpd:<pid>``; track, artist and album ids are the Spotify URIs. A track repeated
within a playlist is kept once (at its first position), as ``recsys.data.dataset.from_rows`` does.
"""
from __future__ import annotations

import mmap
import os
import re
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Annotated

import msgspec
import numpy as np
import pandas as pd
from tqdm import tqdm

from recsys.data.dataset import DatasetWriter
from recsys.errors import RecsysError


class MpdIngestError(RecsysError):
    """No readable MPD file was found; the message names the path."""


# Bounds on what one record may hold, checked by the decoder: an integer the columns cannot
# store (pid is int64, the rest int32), or a string long enough to blow up the main process's
# memory (each one is copied there several times), makes its playlist malformed.
MAX_URI = 200  # Spotify URIs are ~40 characters
MAX_TEXT = 2_000  # names and titles
MAX_FILE_BYTES = 512 * 2**20  # a slice is ~33 MB, the challenge set ~60 MB
Id = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Uri = Annotated[str, msgspec.Meta(max_length=MAX_URI)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


class MpdTrack(msgspec.Struct, gc=False):
    pos: Count
    track_uri: Uri
    track_name: Text
    artist_uri: Uri
    artist_name: Text
    album_uri: Uri
    album_name: Text
    duration_ms: Count


class MpdPlaylist(msgspec.Struct, gc=False):
    pid: Id
    name: Text
    num_tracks: Count
    tracks: list[MpdTrack]


class MpdSlice(msgspec.Struct, gc=False):
    """One ``mpd.slice.<a>-<b>.json`` file."""

    info: dict
    playlists: list[MpdPlaylist]


class ChallengePlaylist(msgspec.Struct, gc=False):
    pid: Id
    num_samples: Count
    num_holdouts: Count
    tracks: list[MpdTrack]  # the seeds; the holdouts are what a model must predict
    name: Text = ""  # some challenge categories give no title


class ChallengeSet(msgspec.Struct, gc=False):
    """The RecSys Challenge 2018 ``challenge_set.json``."""

    playlists: list[ChallengePlaylist]


# The same files with each playlist left undecoded: read only when a file fails the typed decode,
# so that one malformed playlist costs itself and not its whole file.
class _UncheckedSlice(msgspec.Struct, gc=False):
    info: dict
    playlists: list[msgspec.Raw]


class _UncheckedChallengeSet(msgspec.Struct, gc=False):
    playlists: list[msgspec.Raw]


class _PidOnly(msgspec.Struct, gc=False):
    pid: object = None


SLICE_PATTERN = re.compile(r"^mpd\.slice\.(\d+)-(\d+)\.json$")
CHALLENGE_NAME = "challenge_set.json"


def mpd_files(path: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """The slice files under ``path`` in slice order (at most ``limit``), then the challenge set."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MpdIngestError(f"{path}: no such file or directory")
    slices = sorted((p for p in path.iterdir() if SLICE_PATTERN.match(p.name)),
                    key=lambda p: int(SLICE_PATTERN.match(p.name).group(1)))
    files = slices[:limit] + ([path / CHALLENGE_NAME] if (path / CHALLENGE_NAME).is_file() else [])
    if not files:
        raise MpdIngestError(f"{path}: no mpd.slice.<a>-<b>.json files nor {CHALLENGE_NAME}")
    return files


class PackedStrings:
    """A list of strings as one string plus offsets: crosses a process boundary as two buffers
    instead of one pickled object per string."""

    def __init__(self, strings: list[str]):
        self.text = "".join(strings)
        self.offsets = np.zeros(len(strings) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)), out=self.offsets[1:])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def take(self, rows: np.ndarray | None = None) -> list[str]:
        """The strings at ``rows`` (all of them by default), in that order."""
        starts, ends = self.offsets[:-1], self.offsets[1:]
        if rows is not None:
            starts, ends = starts[rows], ends[rows]
        text = self.text
        return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist())]


def number_keys(keys, count: int, numbers: dict[str, int]) -> np.ndarray:
    """The number in ``numbers`` of each of the ``count`` keys; keys not there yet get the next
    numbers, in order of first appearance, and are added."""
    # setdefault evaluates len(numbers) first, so a new key gets the next number.
    return np.fromiter((numbers.setdefault(key, len(numbers)) for key in keys), dtype=np.int64, count=count)


@dataclass
class ParsedFile:
    """One file's content as compact columns: what a worker sends back to the main process.

    Tracks are numbered per worker process (``worker``): a worker sends a track's URI and
    attributes the first time it meets it (``new_tracks``, numbered from ``first_new``) and only
    its number after that, so the main process handles each track's strings at most once per
    worker instead of once per file.
    """

    path: Path
    n_bytes: int
    worker: int
    pids: np.ndarray  # int64, one per playlist
    names: list[str]
    num_holdouts: np.ndarray | None  # challenge set only
    lengths: np.ndarray  # int32, tracks per playlist after de-duplication
    track_local: np.ndarray  # int64 worker track numbers, playlist by playlist in pos order
    first_new: int
    new_tracks: dict  # canonical column -> PackedStrings (duration_ms -> int64 array)
    bad_playlists: list[BadPlaylist]


@dataclass
class BadFile:
    path: Path
    reason: str


@dataclass
class BadPlaylist:
    """A malformed playlist record left out of an otherwise readable file."""

    path: Path
    index: int  # position in the file's ``playlists`` list
    pid: int | None  # None when the record has no integer pid
    reason: str

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "no pid"
        return f"playlists[{self.index}] ({pid}): {self.reason}"


_DECODERS = {"slice": msgspec.json.Decoder(MpdSlice), "challenge": msgspec.json.Decoder(ChallengeSet)}
_UNCHECKED_DECODERS = {"slice": msgspec.json.Decoder(_UncheckedSlice),
                       "challenge": msgspec.json.Decoder(_UncheckedChallengeSet)}
_PLAYLIST_DECODERS = {"slice": msgspec.json.Decoder(MpdPlaylist),
                      "challenge": msgspec.json.Decoder(ChallengePlaylist)}
_PID_DECODER = msgspec.json.Decoder(_PidOnly)


def _decode_playlist_by_playlist(data, kind: str, path: Path) -> tuple[list, list[BadPlaylist]]:
    """The good playlists of a file whose typed decode failed, and the bad ones. Raises
    msgspec.DecodeError when the file itself is unreadable or of the wrong shape."""
    document = _UNCHECKED_DECODERS[kind].decode(data)
    decode_playlist = _PLAYLIST_DECODERS[kind].decode
    good, bad = [], []
    for index, raw in enumerate(document.playlists):
        try:
            good.append(decode_playlist(raw))
        except msgspec.ValidationError as exc:
            bad.append(BadPlaylist(path, index, _pid_of(raw), str(exc)))
    return good, bad


def _pid_of(raw: msgspec.Raw) -> int | None:
    """The pid of a malformed record, to name it; None when it has no int64 one (the rest of the
    record is skipped undecoded: it may hold numbers no Python type takes, like 1e400)."""
    try:
        pid = _PID_DECODER.decode(raw).pid
    except msgspec.ValidationError:  # not an object
        return None
    return pid if type(pid) is int and 0 <= pid < 2**63 else None


def parse_file(path: Path, sent: dict[str, int]) -> ParsedFile | BadFile:
    """Decode one slice (or challenge set) file into columns; bad content gives a BadFile, and
    malformed playlists of an otherwise readable file are left out and listed in ``bad_playlists``.

    ``sent`` maps the URIs this worker already sent to their worker track numbers; it is
    extended with this file's new tracks (and left untouched when the file is bad). Whatever
    goes wrong inside one file (hostile nesting, a value no column can hold) costs that file only.
    """
    n_sent = len(sent)
    try:
        return _parse_file(path, sent)
    except Exception as exc:
        for key in list(islice(reversed(sent), len(sent) - n_sent)):  # new keys come last
            del sent[key]
        return BadFile(path, _reason(exc))


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


def _parse_file(path: Path, sent: dict[str, int]) -> ParsedFile | BadFile:
    kind = "challenge" if path.name.startswith("challenge_set") else "slice"
    size = path.stat().st_size
    if size == 0:
        return BadFile(path, "empty file")
    if size > MAX_FILE_BYTES:
        return BadFile(path, f"{size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for one MPD file")
    # Decoding straight from the page cache saves copying ~33 MB per slice.
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        n_bytes = len(data)
        try:
            playlists, bad_playlists = _DECODERS[kind].decode(data).playlists, []
        except msgspec.ValidationError:
            # A copy: the undecoded records would otherwise pin the map open past its close.
            playlists, bad_playlists = _decode_playlist_by_playlist(data[:], kind, path)
    occurrences = [track for playlist in playlists for track in playlist.tracks]
    playlist_local = np.repeat(np.arange(len(playlists)), [len(p.tracks) for p in playlists])
    first_new = len(sent)
    codes = number_keys((t.track_uri for t in occurrences), len(occurrences), sent)
    is_new = np.flatnonzero(codes >= first_new)
    first = np.empty(len(sent) - first_new, dtype=np.int64)
    first[codes[is_new[::-1]] - first_new] = is_new[::-1]  # written backwards: first occurrences win
    new = [occurrences[i] for i in first.tolist()]
    new_tracks = {
        "track_id": PackedStrings([t.track_uri for t in new]),
        "name": PackedStrings([t.track_name for t in new]),
        "artist": PackedStrings([t.artist_name for t in new]),
        "album": PackedStrings([t.album_name for t in new]),
        "artist_id": PackedStrings([t.artist_uri for t in new]),
        "album_id": PackedStrings([t.album_uri for t in new]),
        "duration_ms": np.fromiter((t.duration_ms for t in new), dtype=np.int64, count=len(new)),
    }
    pos = np.fromiter((t.pos for t in occurrences), dtype=np.int64, count=len(occurrences))
    order = np.lexsort((pos, playlist_local))
    # A track repeated within a playlist counts once, at its first position.
    pair = playlist_local[order] * len(sent) + codes[order]
    _, first_of_pair = np.unique(pair, return_index=True)
    kept = order[np.sort(first_of_pair)]
    return ParsedFile(
        path=path, n_bytes=n_bytes, worker=os.getpid(),
        pids=np.array([p.pid for p in playlists], dtype=np.int64),
        names=[p.name for p in playlists],
        num_holdouts=np.array([p.num_holdouts for p in playlists], np.int32) if kind == "challenge" else None,
        lengths=np.bincount(playlist_local[kept], minlength=len(playlists)).astype(np.int32),
        track_local=codes[kept],
        first_new=first_new,
        new_tracks=new_tracks,
        bad_playlists=bad_playlists,
    )


_worker_sent: dict[str, int] = {}


def _reset_worker() -> None:
    _worker_sent.clear()


def _parse_in_worker(path: Path) -> ParsedFile | BadFile:
    return parse_file(path, _worker_sent)


@dataclass
class MpdIngest:
    """What ``ingest_mpd`` did: the dataset.json written, the files kept and skipped, and the
    malformed playlists left out of kept files."""

    meta: dict
    good: list[Path]
    bad: list[BadFile]
    bad_playlists: list[BadPlaylist]
    n_bytes: int


class _Assembler:
    """Main-process side: URIs -> dense track ids, file by file, appended to a DatasetWriter."""

    def __init__(self, writer: DatasetWriter, with_holdouts: bool):
        self.writer = writer
        self.with_holdouts = with_holdouts
        self.track_ids: dict[str, int] = {}
        self.worker_to_global: dict[int, np.ndarray] = {}
        self.pids: set[int] = set()

    def add(self, parsed: ParsedFile) -> BadFile | None:
        # Tracks first, even for a file refused below: the worker counts them as sent.
        to_global = self._add_tracks(parsed)
        new_pids: set[int] = set()
        for pid in parsed.pids.tolist():
            if pid in self.pids or pid in new_pids:
                return BadFile(parsed.path, f"playlist pid {pid} was already read (a copied slice?)")
            new_pids.add(pid)
        self.pids |= new_pids

        first_playlist = self.writer.n_playlists
        playlists = pd.DataFrame({
            "playlist_idx": np.arange(first_playlist, first_playlist + len(parsed.pids)),
            "playlist_id": [f"mpd:{pid}" for pid in parsed.pids.tolist()],
            "name": parsed.names,
            "num_tracks": parsed.lengths,
        })
        if self.with_holdouts:
            holdouts = parsed.num_holdouts if parsed.num_holdouts is not None else 0
            playlists["num_holdouts"] = np.broadcast_to(holdouts, len(playlists)).astype(np.int32)
        self.writer.add_playlists(playlists)

        starts = np.repeat(np.cumsum(parsed.lengths) - parsed.lengths, parsed.lengths)
        self.writer.add_interactions(pd.DataFrame({
            "playlist_idx": np.repeat(playlists["playlist_idx"].to_numpy(), parsed.lengths),
            "track_idx": to_global[parsed.track_local],
            "pos": np.arange(len(parsed.track_local)) - starts,
        }))
        return None

    def _add_tracks(self, parsed: ParsedFile) -> np.ndarray:
        """Give the file's new tracks dense ids, write the ones new to the dataset, and return
        the worker's track number -> track_idx array."""
        known = self.worker_to_global.get(parsed.worker, np.empty(0, dtype=np.int64))
        if parsed.first_new != len(known):
            raise RuntimeError(f"{parsed.path}: worker {parsed.worker} track numbers out of step")
        ids = self.track_ids
        n_before = len(ids)
        new_global = number_keys(parsed.new_tracks["track_id"].take(), len(parsed.new_tracks["track_id"]), ids)
        fresh = np.flatnonzero(new_global >= n_before)
        if len(fresh):
            self.writer.add_tracks(pd.DataFrame({"track_idx": np.arange(n_before, len(ids)), **{
                column: values[fresh] if isinstance(values, np.ndarray) else values.take(fresh)
                for column, values in parsed.new_tracks.items()}}))
        known = self.worker_to_global[parsed.worker] = np.concatenate([known, new_global])
        return known


def _parsed_in_order(files: list[Path], workers: int):
    """Yield the parse of each file in order, with at most 2 results per worker pending.

    Workers take files in this order, so each worker's track numbering runs in the order the
    main process reads its results.
    """
    with ProcessPoolExecutor(max_workers=workers, initializer=_reset_worker) as pool:
        pending: deque = deque()
        todo = iter(files)
        for path in todo:
            pending.append(pool.submit(_parse_in_worker, path))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            next_path = next(todo, None)
            if next_path is not None:
                pending.append(pool.submit(_parse_in_worker, next_path))
            yield result


def ingest_mpd(path: str | os.PathLike, out_dir: str | os.PathLike, *, name: str | None = None,
               workers: int | None = None, limit: int | None = None) -> MpdIngest:
    """Ingest the slices (and challenge set) under ``path`` into ``out_dir``; see the module doc."""
    files = mpd_files(path, limit)
    workers = max(1, min(workers or os.cpu_count() or 1, len(files)))
    with_holdouts = any(f.name.startswith("challenge_set") for f in files)
    good: list[Path] = []
    bad: list[BadFile] = []
    bad_playlists: list[BadPlaylist] = []
    n_bytes = 0
    with DatasetWriter(out_dir, name=name, source="mpd") as writer:
        assembler = _Assembler(writer, with_holdouts)
        progress = tqdm(total=len(files), desc="mpd files", unit="file")
        for parsed in _parsed_in_order(files, workers):
            problem = parsed if isinstance(parsed, BadFile) else assembler.add(parsed)
            if problem is None:
                good.append(parsed.path)
                n_bytes += parsed.n_bytes
                bad_playlists += parsed.bad_playlists
                for playlist in parsed.bad_playlists:
                    progress.write(f"skipped {playlist.path.name} {playlist.describe()}", file=sys.stderr)
            else:
                bad.append(problem)
                progress.write(f"skipped {problem.path.name}: {problem.reason}", file=sys.stderr)
            progress.set_postfix(good=len(good), bad=len(bad), tracks=len(assembler.track_ids))
            progress.update()
        progress.close()
        if not good:
            raise MpdIngestError(f"{path}: none of the {len(files)} files could be read "
                                 f"(first: {bad[0].path.name}: {bad[0].reason})")
        meta = writer.close(
            input=str(path), files_read=len(good),
            skipped=[{"file": b.path.name, "reason": b.reason} for b in bad]
            + [{"file": b.path.name, "playlist_index": b.index, "pid": b.pid, "reason": b.reason}
               for b in bad_playlists])
    return MpdIngest(meta=meta, good=good, bad=bad, bad_playlists=bad_playlists, n_bytes=n_bytes)
