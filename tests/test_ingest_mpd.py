"""`python -m recsys ingest mpd` on synthetic slices, bad slices and a challenge set; the generator."""
from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import load_dataset
from recsys.ingest.mpd import MpdIngestError, ingest_mpd
from recsys.ingest.synthetic_mpd import make_catalog, make_slice, write_synthetic_mpd



@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> list[Path]:
    return write_synthetic_mpd(tmp_path_factory.mktemp("mpd"), 20, playlists_per_slice=100,
                               n_tracks=5000, seed=3)


@pytest.fixture(scope="module")
def ingested(slices, tmp_path_factory, recsys_cli) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("datasets") / "mpd20"
    return out, recsys_cli("ingest", "mpd", str(slices[0].parent), "--out", str(out), "--workers", "2")


def expected_from_json(paths: list[Path]) -> dict:
    """The figures the dataset must show, computed from the slice JSON with the stdlib only."""
    playlists = [p for path in paths for p in json.loads(path.read_text())["playlists"]]
    lengths = [len({t["track_uri"] for t in p["tracks"]}) for p in playlists]
    tracks = [t for p in playlists for t in p["tracks"]]
    return {
        "playlists": len(playlists),
        "tracks": len({t["track_uri"] for t in tracks}),
        "artists": len({t["artist_uri"] for t in tracks}),
        "albums": len({t["album_uri"] for t in tracks}),
        "interactions": sum(lengths),
        "max_length": max(lengths),
        "min_length": min(lengths),
        "repeats": sum(p["num_tracks"] for p in playlists) - sum(lengths),
        "first_playlist": playlists[0],
    }


def test_twenty_slices_give_the_generators_figures(slices, ingested, recsys_cli):
    out, done = ingested
    assert done.returncode == 0, done.stderr
    assert "20 files read, 0 skipped" in done.stdout and str(out) in done.stdout
    stats = json.loads(recsys_cli("stats", str(out)).stdout)
    expected = expected_from_json(slices)
    for key in ("playlists", "tracks", "artists", "albums", "interactions"):
        assert stats[key] == expected[key], key
    assert stats["tracks_per_playlist"]["max"] == expected["max_length"]
    assert stats["tracks_per_playlist"]["min"] == expected["min_length"]
    assert expected["repeats"] > 0  # the generator repeats a few tracks; the ingest keeps each once
    assert stats["features"] == ["duration_ms"]


def test_first_playlist_and_its_tracks_match_the_json(slices, ingested):
    dataset = load_dataset(ingested[0])
    first = expected_from_json(slices[:1])["first_playlist"]
    assert dataset.playlists.loc[0, "playlist_id"] == f"mpd:{first['pid']}"
    assert dataset.playlists.loc[0, "name"] == first["name"]
    rows = dataset.interactions[dataset.interactions["playlist_idx"] == 0].sort_values("pos")
    got = dataset.tracks.set_index("track_idx").loc[rows["track_idx"]]
    want = list(dict.fromkeys(t["track_uri"] for t in sorted(first["tracks"], key=lambda t: t["pos"])))
    assert got["track_id"].tolist() == want
    assert rows["pos"].tolist() == list(range(len(want)))
    track = first["tracks"][0]
    row = dataset.tracks[dataset.tracks["track_id"] == track["track_uri"]].iloc[0]
    assert (row["name"], row["artist"], row["album"]) == (track["track_name"], track["artist_name"], track["album_name"])
    assert (row["artist_id"], row["album_id"], row["duration_ms"]) == (track["artist_uri"], track["album_uri"], track["duration_ms"])


def test_one_worker_and_two_workers_write_the_same_dataset(slices, ingested, tmp_path):
    one = ingest_mpd(slices[0].parent, tmp_path / "one", workers=1)
    assert one.meta["fingerprint"] == load_dataset(ingested[0]).meta["fingerprint"]


def test_bad_slices_are_named_and_skipped_and_good_ones_kept(slices, tmp_path, recsys_cli):
    source = tmp_path / "slices"
    source.mkdir()
    good = slices[:3]
    for path in good:
        shutil.copy(path, source)
    truncated = source / "mpd.slice.300-399.json"
    truncated.write_bytes(slices[3].read_bytes()[:50_000])
    not_json = source / "mpd.slice.400-499.json"
    not_json.write_text("<html>Service Unavailable</html>")
    wrong_shape = source / "mpd.slice.500-599.json"
    wrong_shape.write_text(json.dumps({"info": {}, "playlists": {"pid": 1}}))
    copied = source / "mpd.slice.600-699.json"
    shutil.copy(slices[0], copied)

    done = recsys_cli("ingest", "mpd", str(source), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "3 files read, 4 skipped, 0 malformed playlists left out" in done.stdout
    lines = done.stdout.splitlines()
    for path, reason in ((truncated, "truncated"), (not_json, "malformed"),
                         (wrong_shape, "$.playlists"), (copied, "already read")):
        assert any(str(path) in line and reason in line for line in lines), (path, done.stdout)
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert {s["file"] for s in meta["skipped"]} == {p.name for p in (truncated, not_json, wrong_shape, copied)}
    expected = expected_from_json(good)
    assert meta["counts"]["playlists"] == expected["playlists"]
    assert meta["counts"]["interactions"] == expected["interactions"]
    assert meta["counts"]["tracks"] == expected["tracks"]


def test_a_malformed_playlist_is_left_out_named_and_costs_no_other_playlist(slices, tmp_path, recsys_cli):
    source = tmp_path / "slices"
    source.mkdir()
    shutil.copy(slices[0], source)
    damaged = source / slices[1].name
    document = json.loads(slices[1].read_text())
    pids = [p["pid"] for p in document["playlists"]]
    document["playlists"][2]["tracks"][1]["pos"] = "one"  # wrong type, deep inside
    del document["playlists"][5]["name"]  # a field missing
    document["playlists"][7] = "not a playlist"  # not even an object: no pid to name
    damaged.write_text(json.dumps(document))
    kept = [p for i, p in enumerate(document["playlists"]) if i not in (2, 5, 7)]
    kept_path = tmp_path / "kept.json"
    kept_path.write_text(json.dumps({"playlists": kept}))

    done = recsys_cli("ingest", "mpd", str(source), "--out", str(tmp_path / "out"), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "2 files read, 0 skipped, 3 malformed playlists left out" in done.stdout
    for index, pid, reason in ((2, pids[2], "$.tracks[1].pos"), (5, pids[5], "`name`"), (7, None, "`object`")):
        named = f"playlists[{index}] ({f'pid {pid}' if pid is not None else 'no pid'})"
        assert any(str(damaged) in line and named in line and reason in line
                   for line in done.stdout.splitlines()), (index, done.stdout)
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert [(s["file"], s["playlist_index"], s["pid"]) for s in meta["skipped"]] == [
        (damaged.name, 2, pids[2]), (damaged.name, 5, pids[5]), (damaged.name, 7, None)]
    expected = expected_from_json([slices[0], kept_path])
    for key in ("playlists", "interactions", "tracks"):
        assert meta["counts"][key] == expected[key], key
    dataset = load_dataset(tmp_path / "out")
    written = dataset.playlists.set_index("playlist_id")
    assert {f"mpd:{pids[i]}" for i in (2, 5, 7)}.isdisjoint(written.index)
    assert written.loc[f"mpd:{pids[6]}", "name"] == document["playlists"][6]["name"]
    one = ingest_mpd(source, tmp_path / "one", workers=1)
    assert one.meta["fingerprint"] == meta["fingerprint"]
    assert [(b.index, b.pid) for b in one.bad_playlists] == [(2, pids[2]), (5, pids[5]), (7, None)]


def test_no_readable_file_is_an_error_naming_the_directory(tmp_path, recsys_cli):
    (tmp_path / "mpd.slice.0-999.json").write_text("{")
    done = recsys_cli("ingest", "mpd", str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert str(tmp_path) in done.stderr and "mpd.slice.0-999.json" in done.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(MpdIngestError, match="empty: no mpd.slice"):
        ingest_mpd(tmp_path / "empty", tmp_path / "x")
    with pytest.raises(MpdIngestError, match="missing: no such file"):
        ingest_mpd(tmp_path / "missing", tmp_path / "x")


def test_challenge_set_keeps_seeds_titles_and_holdout_counts(tmp_path, recsys_cli):
    track = {"pos": 0, "track_uri": "spotify:track:0UaMYEvWZi0ZqiDOoHU3YI", "track_name": "Lose Control",
             "artist_uri": "spotify:artist:2wIVse2owClT7go1WT98tk", "artist_name": "Missy Elliott",
             "album_uri": "spotify:album:6vV5UrXcfyQD1wu4Qo2I9K", "album_name": "The Cookbook",
             "duration_ms": 226863}
    other = {**track, "pos": 1, "track_uri": "spotify:track:6I9VzXrHxO9rA9A5euc8Ak", "track_name": "Toxic",
             "artist_uri": "spotify:artist:26dSoYclwsYLMAKD3tpOr4", "artist_name": "Britney Spears",
             "album_uri": "spotify:album:0z7pVBGOD7HCIB7S8eLkLI", "album_name": "In The Zone"}
    challenge = {"date": "2018-01-16 08:47:28.198015", "version": "v1", "playlists": [
        {"name": "spanish playlist", "num_holdouts": 11, "pid": 1000002, "num_samples": 0,
         "num_tracks": 11, "tracks": []},
        {"num_holdouts": 50, "pid": 1000003, "num_samples": 2, "num_tracks": 52, "tracks": [track, other]},
        {"name": "Groovin’ 🎶", "num_holdouts": 90, "pid": 1000004, "num_samples": 1,
         "num_tracks": 91, "tracks": [track]},
    ]}
    path = tmp_path / "challenge_set.json"
    path.write_text(json.dumps(challenge, ensure_ascii=False))
    done = recsys_cli("ingest", "mpd", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    dataset = load_dataset(tmp_path / "out")
    assert dataset.playlists["playlist_id"].tolist() == ["mpd:1000002", "mpd:1000003", "mpd:1000004"]
    assert dataset.playlists["name"].tolist() == ["spanish playlist", "", "Groovin’ 🎶"]
    assert dataset.playlists["num_tracks"].tolist() == [0, 2, 1]
    assert dataset.playlists["num_holdouts"].tolist() == [11, 50, 90]
    assert dataset.tracks["track_id"].tolist() == [track["track_uri"], other["track_uri"]]
    assert dataset.interactions[["playlist_idx", "track_idx", "pos"]].values.tolist() == [[1, 0, 0], [1, 1, 1], [2, 0, 0]]


def test_generator_is_deterministic_and_mpd_like(tmp_path):
    a = write_synthetic_mpd(tmp_path / "a", 2, playlists_per_slice=50, n_tracks=2000, seed=7)
    b = write_synthetic_mpd(tmp_path / "b", 2, playlists_per_slice=50, n_tracks=2000, seed=7)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.name for p in a] == ["mpd.slice.0-49.json", "mpd.slice.50-99.json"]

    catalog = make_catalog(n_tracks=20_000, seed=1)
    playlists = make_slice(catalog, 0, playlists_per_slice=1000, seed=1).playlists
    lengths = np.array([p.num_tracks for p in playlists])
    assert 58 < lengths.mean() < 75 and lengths.min() >= 5 and lengths.max() <= 251
    uri_to_row = {t.track_uri: i for i, t in enumerate(catalog.tracks)}
    main_genre_share = [Counter(catalog.genre[uri_to_row[t.track_uri]] for t in p.tracks).most_common(1)[0][1]
                        / p.num_tracks for p in playlists]
    assert np.mean(main_genre_share) > 0.7  # playlists mostly stay in one genre
    plays = pd.Series([t.track_uri for p in playlists for t in p.tracks]).value_counts()
    assert plays.iloc[: len(plays) // 100].sum() > 0.1 * plays.sum()  # Zipf: the top 1% are ~10%+ of plays
    tracks_per_artist = pd.Series([t.artist_uri for t in catalog.tracks]).value_counts()
    assert tracks_per_artist.median() >= 3
    albums_per_artist = pd.DataFrame([(t.artist_uri, t.album_uri) for t in catalog.tracks]).drop_duplicates()[0].value_counts()
    assert albums_per_artist.max() > 1


def test_hostile_values_cost_their_playlist_or_file_never_the_ingest(slices, tmp_path, monkeypatch):
    from recsys.ingest import mpd

    source = tmp_path / "slices"
    source.mkdir()
    shutil.copy(slices[0], source)
    document = json.loads(slices[1].read_text())
    pids = [p["pid"] for p in document["playlists"]]
    document["playlists"][0]["pid"] = 2**70  # beyond int64
    document["playlists"][1]["tracks"][0]["duration_ms"] = -5
    document["playlists"][3]["tracks"][0]["track_name"] = "x" * (mpd.MAX_TEXT + 1)
    text = json.dumps(document).replace('"pos": 0,', '"pos": 1e400,', 1)  # the first track of playlist 0
    ranged = source / slices[1].name
    ranged.write_text(text.replace(f'"pid": {pids[2]},', f'"pid": {pids[2]}, "num_tracks": 1e400,', 1))
    deep = '[' * 100_000 + ']' * 100_000
    nested_info = source / "mpd.slice.200-299.json"
    nested_info.write_text('{"info": ' + '{"a": ' * 100_000 + '1' + '}' * 100_000 + ', "playlists": []}')
    nested_unknown = source / "mpd.slice.300-399.json"
    nested_unknown.write_text('{"info": {}, "playlists": [{"pid": 9, "extra": ' + deep + '}]}')
    challenge = source / "challenge_set.json"
    challenge.write_text(json.dumps({"playlists": [
        {"pid": 10**7, "num_samples": 0, "num_holdouts": 2**40, "num_tracks": 0, "tracks": []},
        {"pid": 10**7 + 1, "num_samples": 0, "num_holdouts": 3, "num_tracks": 0, "tracks": []}]}))

    done = ingest_mpd(source, tmp_path / "out", workers=2)
    assert {(b.path.name, b.reason) for b in done.bad} == {(nested_info.name, "JSON nested too deeply"),
                                                            (nested_unknown.name, "JSON nested too deeply")}
    left_out = {(b.path.name, b.index): b.reason for b in done.bad_playlists}
    assert set(left_out) == {(ranged.name, i) for i in range(4)} | {(challenge.name, 0)}
    assert "<= 9223372036854775807 - at `$.pid`" in left_out[(ranged.name, 0)]
    assert "`$.tracks[0].duration_ms`" in left_out[(ranged.name, 1)]
    assert "`$.num_tracks`" in left_out[(ranged.name, 2)]
    assert f"length <= {mpd.MAX_TEXT}" in left_out[(ranged.name, 3)]
    assert "`$.num_holdouts`" in left_out[(challenge.name, 0)]
    playlists = load_dataset(tmp_path / "out").playlists
    assert len(playlists) == 100 + 96 + 1 and f"mpd:{pids[4]}" in set(playlists["playlist_id"])

    # One file over the size limit, decoded where it is refused: the worker's URIs are untouched.
    monkeypatch.setattr(mpd, "MAX_FILE_BYTES", slices[0].stat().st_size - 1)
    sent = {"spotify:track:kept": 0}
    refused = mpd.parse_file(slices[0], sent)
    assert isinstance(refused, mpd.BadFile) and "over the" in refused.reason and "byte limit" in refused.reason
    assert sent == {"spotify:track:kept": 0}
