"""Fuzz drill: hypothesis-generated bad input for the MPD and CSV ingest and the Recommender.

    python -m scripts.drills.fuzz_drill                  # 300 examples per target (a few minutes)
    python -m scripts.drills.fuzz_drill --examples 50

Targets and the properties checked on every example:

- ``mpd``: slice directories whose playlists are good, malformed (a field missing, a field of the
  wrong type, an integer beyond int64 or negative, a bare ``1e400``, a string over
  ``mpd.MAX_TEXT``) or merely unusual (long or non-Latin strings, a track twice), plus whole-file
  damage (truncated, not JSON, empty, nested 100,000 deep). ``ingest_mpd`` never raises anything but a ``RecsysError``; every
  playlist of a file with no malformed record is written with its tracks in order; every skipped
  file is named with a reason. Counted, and reported as a failure when not zero: good playlists
  dropped because they shared a file with a malformed one.
- ``csv``: spotify_songs-schema files whose rows have empty cells, non-numeric numbers, huge
  (140,000 characters: over the csv module's default field limit) or non-Latin strings and
  duplicates. ``ingest_csv`` either writes every row's (playlist, track) or
  refuses with a ``RecsysError`` naming the file (and for a bad number, the column and line).
- ``csv-lines``: well-formed files with one line damaged (a field short, a field extra, an
  unclosed quote): refused naming the file, or ingested without values in the wrong columns.
- ``recommender``: ``recommend`` and ``search`` calls, half valid, half with one malformed
  argument (seed lists, ``exclude``, ``k``, ``max_per_artist``, ``diversity``, search strings and
  limits of every type; queries over ``MAX_QUERY_CHARS`` or with a lone surrogate). A valid call
  returns a well-formed answer; a malformed one raises a ``RecsysError`` whose message starts
  with the argument's name.

Each target must also land every kind of damage it aims at at least ``--min-hits`` times
(``REQUIRED``), or the drill fails: a run that never produced an input proves nothing about it.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the ingest's progress bars, once per example

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data.dataset import load_dataset
from recsys.ingest.mpd import MAX_TEXT
from recsys.serving.recommender import MAX_QUERY_CHARS
from recsys.errors import RecsysError
from recsys.text import normalize_text


ROOT = Path(__file__).resolve().parents[2]
# ---------------------------------------------------------------------------- shared strategies

# Over the csv module's default field limit (131,072), which once refused such fields as unclosed quotes.
HUGE = 140_000
# Any text, including surrogate-free unicode, control characters, quotes and RTL scripts.
text = st.text(max_size=30)
# Huge strings are built, not drawn character by character (which would take seconds each).
huge_text = st.sampled_from(["añ😀\"',\n\\", "x", "日本"]).map(lambda unit: (unit * HUGE)[:HUGE])
unusual_text = st.one_of(text, huge_text,
                         st.sampled_from(["", " ", "NA", "null", "None", "\u202eevil", "日本語の曲", "🔥" * 50]))
INF_MARK = "<1e400>"  # replaced by a bare 1e400 in the JSON text (json.dumps cannot write it)
# What an MPD record may hold as text (longer strings make the record malformed: mpd.MAX_TEXT).
mpd_text = unusual_text.map(lambda t: t[:MAX_TEXT])
# Finite floats only: Python writes NaN and Infinity as bare words that are not JSON, which turns
# a record's fault into a whole-file one (the "not json" damage, drawn separately).
wrong_value = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                        st.lists(st.integers(), max_size=2), st.dictionaries(text, st.integers(), max_size=2))

# ---------------------------------------------------------------------------- MPD

DROPPED = "good playlists dropped"
TRACK_FIELDS = ("pos", "track_uri", "track_name", "artist_uri", "artist_name", "album_uri", "album_name",
                "duration_ms")


@st.composite
def mpd_track(draw, uri_pool: list[str]) -> dict:
    uri = draw(st.sampled_from(uri_pool))
    return {"pos": 0, "track_uri": uri, "track_name": draw(mpd_text), "artist_uri": uri + ":artist",
            "artist_name": draw(mpd_text), "album_uri": uri + ":album", "album_name": draw(text),
            "duration_ms": draw(st.integers(0, 10**7))}


@st.composite
def mpd_playlist(draw, pid: int, uri_pool: list[str]) -> tuple[dict, str | None]:
    """A playlist and its fault (None for a good one)."""
    tracks = draw(st.lists(mpd_track(uri_pool), min_size=1, max_size=6))
    if draw(st.booleans()):
        tracks.append(dict(tracks[0]))  # the same track twice: kept once
    for pos, track in enumerate(tracks):
        track["pos"] = pos
    playlist = {"pid": pid, "name": draw(mpd_text), "num_tracks": len(tracks), "tracks": tracks,
                "collaborative": "false"}
    fault = draw(st.sampled_from([None] * 12 + ["missing field", "wrong type", "out of range", "1e400",
                                                 "too long"]))
    if fault == "missing field":
        where, field = draw(st.sampled_from([("playlist", f) for f in ("pid", "name", "tracks")]
                                            + [("track", f) for f in TRACK_FIELDS]))
        del (playlist if where == "playlist" else tracks[-1])[field]
    elif fault == "wrong type":
        where, field = draw(st.sampled_from([("playlist", "pid"), ("playlist", "name"), ("track", "track_uri"),
                                             ("track", "pos"), ("track", "duration_ms")]))
        target = playlist if where == "playlist" else tracks[-1]
        value = draw(wrong_value.filter(lambda v: type(v) is not type(target[field])))
        target[field] = value
    elif fault in ("out of range", "1e400"):
        where, field = draw(st.sampled_from([("playlist", "pid"), ("playlist", "num_tracks"), ("track", "pos"),
                                             ("track", "duration_ms")]))
        target = playlist if where == "playlist" else tracks[-1]
        # Beyond int64, negative, or (1e400, written into the JSON text by write_slices) infinite.
        target[field] = (INF_MARK if fault == "1e400"
                         else draw(st.one_of(st.integers(2**63, 2**80), st.integers(-2**80, -1))))
    elif fault == "too long":
        where, field = draw(st.sampled_from([("playlist", "name"), ("track", "track_name"), ("track", "track_uri")]))
        (playlist if where == "playlist" else tracks[-1])[field] = "x" * (MAX_TEXT + 1)
    return playlist, fault


@st.composite
def mpd_slices(draw) -> list[dict]:
    """1-3 slice files: each {"name", "playlists": [(playlist, fault)], "damage": None|kind}."""
    uri_pool = [f"spotify:track:{i:022d}" for i in range(draw(st.integers(1, 12)))]
    files, pid = [], 0
    for number in range(draw(st.integers(1, 3))):
        playlists = []
        for _ in range(draw(st.integers(1, 4))):
            playlists.append(draw(mpd_playlist(pid, uri_pool)))
            pid += 1
        damage = draw(st.sampled_from([None] * 9 + ["truncated", "not json", "empty", "nested too deeply"]))
        files.append({"name": f"mpd.slice.{number * 1000}-{number * 1000 + 999}.json",
                      "playlists": playlists, "damage": damage})
    return files


def write_slices(directory: Path, files: list[dict]) -> None:
    directory.mkdir(parents=True)
    for f in files:
        payload = json.dumps({"info": {"slice": f["name"]}, "playlists": [p for p, _ in f["playlists"]]},
                             ensure_ascii=False).encode().replace(json.dumps(INF_MARK).encode(), b"1e400")
        if f["damage"] == "nested too deeply":
            payload = b'{"info": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + payload[1:]
        elif f["damage"] == "truncated":
            payload = payload[: len(payload) // 2]
        elif f["damage"] == "not json":
            payload = b"\x00\xff garbage " + payload[:20]
        elif f["damage"] == "empty":
            payload = b""
        (directory / f["name"]).write_bytes(payload)


def expected_tracks(playlist: dict) -> list[str]:
    seen = dict.fromkeys(t["track_uri"] for t in sorted(playlist["tracks"], key=lambda t: t["pos"]))
    return list(seen)


def check_mpd(files: list[dict], workdir: Path, tally: Counter) -> None:
    """Ingest ``files``; raise AssertionError if a property breaks. Adds to ``tally``."""
    from recsys.ingest.mpd import ingest_mpd

    slices, out = workdir / "slices", workdir / "dataset"
    shutil.rmtree(workdir, ignore_errors=True)
    write_slices(slices, files)
    intact = [f for f in files if f["damage"] is None and all(fault is None for _, fault in f["playlists"])]
    try:
        result = ingest_mpd(slices, out, workers=1)
    except RecsysError as exc:
        assert not intact, f"refused although {intact[0]['name']} is intact: {exc}"
        assert str(slices) in str(exc), f"the refusal does not name the directory: {exc}"
        tally["refused: no readable file (named)"] += 1
        return
    except Exception as exc:  # the property under test: nothing else may escape
        raise AssertionError(f"ingest_mpd raised {type(exc).__name__}: {exc}") from exc
    dataset = load_dataset(out)
    skipped_files = {s["file"]: s["reason"] for s in result.meta.get("skipped", []) if "playlist_index" not in s}
    skipped_playlists = {(s["file"], s["playlist_index"]): s["reason"]
                         for s in result.meta.get("skipped", []) if "playlist_index" in s}
    written = dataset.playlists.set_index("playlist_id")
    track_ids = dataset.tracks["track_id"].to_numpy()
    tracks_of = {idx: list(track_ids[rows]) for idx, rows in
                 dataset.interactions.sort_values(["playlist_idx", "pos"]).groupby("playlist_idx")["track_idx"]}
    for f in files:
        if f["damage"] is not None:  # the whole file is unreadable: named, and nothing else to keep
            assert skipped_files.get(Path(f["name"]).name) or skipped_files.get(f["name"]), \
                f"damaged {f['name']} not named as skipped"
            tally[f"damaged files named and skipped ({f['damage']})"] += 1
            continue
        for index, (playlist, fault) in enumerate(f["playlists"]):
            if fault is not None:
                assert any(key[1] == index and f["name"] in key[0] for key in skipped_playlists), \
                    f"malformed playlist {index} of {f['name']} ({fault}) not named as skipped"
                tally[f"malformed playlists named and left out ({fault})"] += 1
            elif f"mpd:{playlist['pid']}" not in written.index:
                tally[DROPPED] += 1
            else:
                row = written.loc[f"mpd:{playlist['pid']}"]
                assert row["name"] == playlist["name"]
                assert tracks_of.get(row["playlist_idx"], []) == expected_tracks(playlist)
                tally["good playlists kept"] += 1


# ---------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("track_name", "artist", "playlist", "album", "album_release", "popularity", "genres", "duration_sec")


@st.composite
def csv_rows(draw) -> list[dict]:
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        row = {"track_name": draw(unusual_text), "artist": draw(unusual_text), "playlist": draw(unusual_text),
               "album": draw(text), "album_release": draw(st.sampled_from(["2017-05-01", "1999", "", "soon"])),
               "popularity": draw(st.sampled_from(["50", "", "7.5", " 3 "])),
               "genres": draw(st.sampled_from(["pop", "", "rock", "r&b"])),
               "duration_sec": draw(st.sampled_from(["200", "", "1e3"]))}
        for column in draw(st.sets(st.sampled_from(CSV_COLUMNS), max_size=2)):
            row[column] = ""  # a missing cell
        rows.append(row)
    if draw(st.booleans()):
        rows.append(dict(rows[0]))  # a duplicate row
    if draw(st.integers(0, 2)) == 0:  # a number that is not one
        row = draw(st.sampled_from(rows))
        row[draw(st.sampled_from(["popularity", "duration_sec"]))] = draw(st.sampled_from(["n/a", "3:20", "1O", "½"]))
    return rows


def _numeric_or_empty(value: str) -> bool:
    text = value.strip()
    if not text:
        return True
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def check_csv(rows: list[dict], workdir: Path, tally: Counter) -> None:
    from recsys.ingest.csv import ingest_csv

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    path = workdir / "songs.csv"
    # Quoted: pandas leaves a lone "\r" unquoted, which any reader takes for a line break.
    pd.DataFrame(rows, columns=list(CSV_COLUMNS)).to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    bad_number = any(not _numeric_or_empty(r[c]) for r in rows for c in ("popularity", "duration_sec"))
    try:
        dataset = ingest_csv(path, workdir / "dataset")
    except RecsysError as exc:
        assert str(path) in str(exc), f"the refusal does not name the file: {exc}"
        assert bad_number, f"refused a file whose numbers are all numbers: {exc}"
        assert "line" in str(exc) and ("popularity" in str(exc) or "duration_sec" in str(exc)), str(exc)
        tally["files refused (bad number; file, column and line named)"] += 1
        return
    except Exception as exc:
        raise AssertionError(f"ingest_csv raised {type(exc).__name__}: {exc}") from exc
    assert not bad_number, "a non-numeric popularity or duration was accepted"
    dataset = load_dataset(dataset.path)
    tracks = dataset.tracks.set_index("track_idx")
    playlists = dataset.playlists.set_index("playlist_idx")
    written = {(playlists.loc[p, "name"], normalize_text(tracks.loc[t, "name"]), normalize_text(tracks.loc[t, "artist"]))
               for p, t in zip(dataset.interactions["playlist_idx"], dataset.interactions["track_idx"])}
    for row in rows:
        assert (row["playlist"], normalize_text(row["track_name"]), normalize_text(row["artist"])) in written, \
            f"row lost: {row}"
    tally["files ingested with every row kept"] += 1
    tally["rows kept"] += len(rows)


LINE_DAMAGES = ("a field short", "a field extra", "an unclosed quote")


@st.composite
def damaged_csv(draw) -> tuple[list[dict], int, str]:
    """Good rows, then one data line damaged structurally: (rows, damaged row number, damage)."""
    rows = [{c: draw(st.sampled_from(["x", "Beyoncé", "a b", "7"])) for c in CSV_COLUMNS}
            for _ in range(draw(st.integers(2, 6)))]
    for row in rows:
        row["popularity"], row["duration_sec"] = "50", "200"
    return rows, draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from(LINE_DAMAGES))


def check_damaged_csv(rows: list[dict], damaged: int, kind: str, workdir: Path, tally: Counter) -> None:
    """A line with a field too few or too many, or an unclosed quote, must not be taken in with its
    values in the wrong columns: the file is refused naming it (or the line is left out, named)."""
    from recsys.ingest.csv import ingest_csv

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    lines = [",".join(CSV_COLUMNS)] + [",".join(f'"{row[c]}"' for c in CSV_COLUMNS) for row in rows]
    fields = lines[damaged + 1].split(",")
    lines[damaged + 1] = {"a field short": ",".join(fields[:-1]), "a field extra": ",".join(fields + ['"x"']),
                          "an unclosed quote": lines[damaged + 1][:-1]}[kind]
    path = workdir / "songs.csv"
    path.write_text("\n".join(lines) + "\n")
    try:
        dataset = ingest_csv(path, workdir / "dataset")
    except RecsysError as exc:
        assert str(path) in str(exc), f"the refusal does not name the file: {exc}"
        tally[f"{kind}: file refused, named"] += 1
        return
    except Exception as exc:
        raise AssertionError(f"ingest_csv raised {type(exc).__name__}: {exc}") from exc
    written = set(load_dataset(dataset.path).playlists["name"])
    shifted = written - {row["playlist"] for row in rows}
    assert not shifted, (f"{kind} on data line {damaged + 2} was ingested with values in the wrong columns: "
                         f"playlists {sorted(shifted)} do not exist in the file")
    tally[f"{kind}: ingested without misplaced values"] += 1


# ---------------------------------------------------------------------------- Recommender

not_a_count = st.one_of(st.integers(max_value=0), st.integers(min_value=1001), st.floats(), st.booleans(),
                        st.none(), st.sampled_from(["5", "twenty"]), st.binary(max_size=3))
not_id_list = st.one_of(text, st.binary(max_size=5), st.integers(), st.none(), st.floats(),
                        st.lists(wrong_value, min_size=1, max_size=3),
                        st.lists(st.one_of(text, wrong_value), min_size=2, max_size=4).filter(
                            lambda values: not all(isinstance(v, str) for v in values)))
MALFORMED = {
    "seed_track_ids": not_id_list,
    "exclude": not_id_list,
    "k": not_a_count,
    "max_per_artist": not_a_count.filter(lambda v: v is not None and not (type(v) is int and v >= 1)),
    "diversity": st.one_of(st.floats().filter(lambda v: not 0 <= v <= 1), st.booleans(), st.none(),
                           st.sampled_from(["0.5", "much"])),
    # Not strings, longer than MAX_QUERY_CHARS, or with a lone surrogate (not encodable text).
    "query": st.one_of(st.none(), st.integers(), st.binary(max_size=5), st.lists(text, max_size=2), huge_text,
                       text.map(lambda t: t + "\ud800")),
    "limit": not_a_count,
}


@st.composite
def recommender_calls(draw, catalog_ids: list[str]) -> tuple[str, dict, str | None]:
    """(method, arguments, the one malformed argument or None): half the calls are valid."""
    seed = st.one_of(st.sampled_from(catalog_ids), unusual_text)
    if draw(st.booleans()):
        method = "recommend"
        call = {"seed_track_ids": draw(st.one_of(st.lists(seed, max_size=8), st.just(catalog_ids * 50))),
                "k": draw(st.integers(1, 1000)), "exclude": draw(st.lists(seed, max_size=3)),
                "max_per_artist": draw(st.one_of(st.none(), st.integers(1, 5))),
                "diversity": draw(st.floats(0, 1))}
    else:
        method, call = "search", {"query": draw(unusual_text.map(lambda t: t[:MAX_QUERY_CHARS])),
                                  "limit": draw(st.integers(1, 1000))}
    bad = draw(st.one_of(st.none(), st.sampled_from(sorted(call))))
    if bad is not None:
        call[bad] = draw(MALFORMED[bad])
    return method, call, bad


def check_recommender(recommender, method: str, call: dict, bad: str | None, tally: Counter) -> None:
    """A valid call answers well-formed; a call with one malformed argument raises a
    ``RecsysError`` whose message starts with that argument's name."""
    try:
        result = getattr(recommender, method)(**call)
    except RecsysError as exc:
        assert bad is not None, f"valid {method} call refused: {exc} ({call!r})"[:2000]
        named = str(exc).startswith(bad) or (bad == "query" and str(exc).startswith("search query"))
        assert named, f"{method}: the error for {bad}={call[bad]!r} does not name it: {exc}"
        tally[f"{method}: malformed {bad} refused, named"] += 1
        return
    except Exception as exc:
        raise AssertionError(f"{method}({call!r}) raised {type(exc).__name__}: {exc}"[:2000]) from exc
    assert bad is None, f"{method} accepted {bad}={call[bad]!r}"
    if method == "recommend":
        ids = result.track_ids
        assert len(ids) <= call["k"] and len(set(ids)) == len(ids)
        assert not set(ids) & (set(call["seed_track_ids"]) | set(call["exclude"]))
    else:
        assert len(result) <= call["limit"]
    tally[f"{method}: valid call answered"] += 1


# ---------------------------------------------------------------------------- running

def run_target(target: str, examples: int, workdir: Path, seed: int = 0) -> Counter:
    """Run ``examples`` hypothesis examples against ``target``; raises on a broken property
    (after hypothesis has shrunk it to a minimal example)."""
    from hypothesis import seed as fixed_seed

    tally: Counter = Counter()
    options = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                       suppress_health_check=list(HealthCheck))
    if target == "mpd":
        test = given(mpd_slices())(lambda files: check_mpd(files, workdir / "mpd", tally))
    elif target == "csv":
        test = given(csv_rows())(lambda rows: check_csv(rows, workdir / "csv", tally))
    elif target == "csv-lines":
        test = given(damaged_csv())(lambda drawn: check_damaged_csv(*drawn, workdir / "csv-lines", tally))
    else:
        from tests.fixture_artifacts import fixture_catalog, make_fixture_artifact

        from recsys.serving import Recommender
        recommender = Recommender.load(make_fixture_artifact(workdir / "models"))
        ids = fixture_catalog()["track_id"].tolist()

        test = given(recommender_calls(ids))(lambda drawn: check_recommender(recommender, *drawn, tally))
    fixed_seed(seed)(options(test))()
    return tally


# The hits each target must land in a full run (--examples 300): every kind of damage the
# generators can produce at least MIN_HITS times, or the drill fails (it would prove nothing).
MIN_HITS = 3
REQUIRED = {
    "mpd": [f"malformed playlists named and left out ({fault})"
            for fault in ("missing field", "wrong type", "out of range", "1e400", "too long")]
    + [f"damaged files named and skipped ({damage})"
       for damage in ("truncated", "not json", "empty", "nested too deeply")] + ["good playlists kept"],
    "csv": ["files ingested with every row kept"],
    "csv-lines": [f"{kind}: file refused, named" for kind in ("a field extra", "an unclosed quote")],
    "recommender": ["search: malformed query refused, named", "search: valid call answered",
                    "recommend: valid call answered"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="hypothesis examples per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default="mpd,csv,csv-lines,recommender")
    parser.add_argument("--min-hits", type=int, default=MIN_HITS,
                        help="examples each required kind must reach per target (default %(default)s)")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            try:
                tally = run_target(target, args.examples, Path(tmp) / target, args.seed)
            except Exception as exc:  # a broken property (hypothesis may group several)
                failed += 1
                inner = exc.exceptions if isinstance(exc, ExceptionGroup) else [exc]
                print(f"{target}: FAILED: " + " | ".join(str(e).splitlines()[0] for e in inner))
                continue
            print(f"{target}: {args.examples} examples, every property held: "
                  + "; ".join(f"{what}: {n}" for what, n in sorted(tally.items())))
            short = [f"{what} {tally[what]}" for what in REQUIRED.get(target, []) if tally[what] < args.min_hits]
            if short:
                failed += 1
                print(f"{target}: FAILED: too few hits (minimum {args.min_hits}): {'; '.join(short)}")
            dropped = tally[DROPPED]
            if dropped:
                failed += 1
                print(f"{target}: FAILED at record level: {dropped} good playlists were dropped because they "
                      "shared a slice file with a malformed record (the ingest skips the whole file, by name)")
    print("DRILL PASSED" if not failed else f"DRILL FAILED: {failed} target(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
