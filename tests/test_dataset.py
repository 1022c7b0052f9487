"""The canonical dataset on disk: round trip, the streaming writer, and load_dataset refusing bad files."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.data.dataset import DatasetError, DatasetWriter, from_rows, load_dataset, write_dataset


def small_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "playlist_id": ["p1", "p1", "p1", "p2", "p2", "p3"],
        "playlist_name": ["Road trip", "Road trip", "Road trip", "Café ☕", "Café ☕", "Solo"],
        "name": ["Jolene", "Toxic", "Jolene", "Toxic", "Señorita", "Hurt"],
        "artist": ["Dolly Parton", "Britney Spears", "Dolly Parton", "Britney Spears", "Shawn Mendes", "Johnny Cash"],
        "popularity": [80.0, 85.0, 80.0, 85.0, 90.0, 70.0],
    })


@pytest.fixture
def dataset_dir(tmp_path):
    write_dataset(from_rows(small_rows(), name="small", source="test"), tmp_path / "small")
    return tmp_path / "small"


def test_round_trip_keeps_content_types_and_fingerprint(dataset_dir):
    dataset = load_dataset(dataset_dir)
    assert (dataset.n_playlists, dataset.n_tracks, len(dataset.interactions)) == (3, 4, 5)  # repeated Jolene dropped
    assert dataset.tracks["track_idx"].dtype == np.int32 and dataset.tracks["popularity"].dtype == np.float32
    assert dataset.playlists["name"].tolist() == ["Road trip", "Café ☕", "Solo"]
    assert dataset.meta["counts"] == {"playlists": 3, "tracks": 4, "interactions": 5, "artists": 4}


def test_streaming_writer_matches_write_dataset(dataset_dir, tmp_path):
    whole = load_dataset(dataset_dir)
    with DatasetWriter(tmp_path / "chunked", name="small", source="test") as writer:
        for part in (slice(0, 2), slice(2, 4)):
            writer.add_tracks(whole.tracks.iloc[part])
        writer.add_playlists(whole.playlists.iloc[:1])
        writer.add_playlists(whole.playlists.iloc[1:])
        writer.add_interactions(whole.interactions.iloc[:3])
        writer.add_interactions(whole.interactions.iloc[3:])
        meta = writer.close()
    chunked = load_dataset(tmp_path / "chunked")
    assert meta["fingerprint"] == whole.meta["fingerprint"] == chunked.meta["fingerprint"]
    assert meta["counts"] == whole.meta["counts"]
    pd.testing.assert_frame_equal(chunked.tracks, whole.tracks)
    pd.testing.assert_frame_equal(chunked.playlists, whole.playlists)
    pd.testing.assert_frame_equal(chunked.interactions, whole.interactions)


def test_streaming_writer_refuses_gaps_and_leaves_nothing_behind(dataset_dir, tmp_path):
    whole = load_dataset(dataset_dir)
    with pytest.raises(DatasetError, match=r"tracks\.parquet: track_idx of a chunk does not continue at 2"):
        with DatasetWriter(tmp_path / "gappy") as writer:
            writer.add_tracks(whole.tracks.iloc[:2])
            writer.add_tracks(whole.tracks.iloc[3:])
    with pytest.raises(DatasetError, match=r"interactions\.parquet: track_idx outside 0\.\.1"):
        with DatasetWriter(tmp_path / "dangling") as writer:
            writer.add_tracks(whole.tracks.iloc[:2])
            writer.add_playlists(whole.playlists)
            writer.add_interactions(whole.interactions)
            writer.close()
    assert list(tmp_path.iterdir()) == [dataset_dir]


def test_missing_directory_and_missing_file_are_named(dataset_dir, tmp_path):
    with pytest.raises(DatasetError, match="nowhere: not a dataset directory"):
        load_dataset(tmp_path / "nowhere")
    (dataset_dir / "interactions.parquet").unlink()
    with pytest.raises(DatasetError, match=r"small/interactions\.parquet: missing"):
        load_dataset(dataset_dir)


def test_wrong_dtype_is_named(dataset_dir):
    path = dataset_dir / "interactions.parquet"
    table = pq.read_table(path)
    as_float = table.set_column(table.schema.get_field_index("track_idx"), "track_idx",
                                table["track_idx"].cast(pa.float64()))
    pq.write_table(as_float, path)
    with pytest.raises(DatasetError, match=r"interactions\.parquet: column 'track_idx' has dtype float64"):
        load_dataset(dataset_dir)


def test_non_dense_index_is_named(dataset_dir):
    path = dataset_dir / "tracks.parquet"
    tracks = pd.read_parquet(path)
    tracks["track_idx"] = tracks["track_idx"] + 1
    tracks.to_parquet(path, index=False)
    with pytest.raises(DatasetError, match=r"tracks\.parquet: track_idx is not dense"):
        load_dataset(dataset_dir)


def test_interaction_outside_the_tracks_is_named(dataset_dir):
    path = dataset_dir / "interactions.parquet"
    interactions = pd.read_parquet(path)
    interactions.loc[0, "track_idx"] = 99
    interactions.to_parquet(path, index=False)
    with pytest.raises(DatasetError, match=r"interactions\.parquet: track_idx outside 0\.\.3"):
        load_dataset(dataset_dir)


def test_corrupted_parquet_is_named(dataset_dir):
    path = dataset_dir / "playlists.parquet"
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(DatasetError, match=r"playlists\.parquet: unreadable"):
        load_dataset(dataset_dir)


def test_damaged_or_foreign_dataset_json_is_named(dataset_dir):
    meta_path = dataset_dir / "dataset.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "schema_version": 99}))
    with pytest.raises(DatasetError, match=r"dataset\.json: schema_version 99"):
        load_dataset(dataset_dir)
    meta_path.write_text("{not json")
    with pytest.raises(DatasetError, match=r"dataset\.json: not valid JSON"):
        load_dataset(dataset_dir)


def test_replacing_a_dataset_is_one_fsynced_atomic_step(tmp_path, monkeypatch):
    """A crash at any step of a replacement leaves the old or the new dataset at the path,
    with every file on disk before it is published."""
    import os

    from recsys import files

    out = tmp_path / "ds"
    write_dataset(from_rows(small_rows(), name="old", source="test"), out)
    events = []
    real_fsync_file, real_fsync_dir, real_exchange = files.fsync_file, files.fsync_dir, files._exchange
    monkeypatch.setattr(files, "fsync_file", lambda p: (events.append(("fsync", p.name)), real_fsync_file(p)))
    monkeypatch.setattr(files, "fsync_dir", lambda p: (events.append(("fsync", p.name)), real_fsync_dir(p)))
    monkeypatch.setattr(files, "_exchange", lambda a, b: (events.append(("publish", b.name)), real_exchange(a, b))[1])

    def crash_after_publishing(*args, **kwargs):  # a kill right after the step that publishes
        raise KeyboardInterrupt
    monkeypatch.setattr(files.shutil, "rmtree", crash_after_publishing)
    monkeypatch.setattr(os, "rename", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))  # the old way
    with pytest.raises(KeyboardInterrupt):
        write_dataset(from_rows(small_rows(), name="new", source="test"), out)
    monkeypatch.undo()
    assert load_dataset(out).meta["name"] == "new"
    published = events.index(("publish", "ds"))
    fsynced = {name for kind, name in events[:published] if kind == "fsync"}
    assert {"tracks.parquet", "playlists.parquet", "interactions.parquet", "dataset.json"} <= fsynced
    [leftover] = [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]  # the old one, swapped out
    os.utime(leftover, (0, 0))
    write_dataset(from_rows(small_rows(), name="newer", source="test"), out)  # tidies it up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"] and load_dataset(out).meta["name"] == "newer"


def test_a_dataset_renamed_aside_by_a_crash_is_put_back(tmp_path):
    """Where the system cannot exchange two directories, the old one is renamed aside first; a
    crash before the new one arrives leaves it there, and the next writer puts it back."""
    from recsys import files

    out = tmp_path / "ds"
    write_dataset(from_rows(small_rows(), name="old", source="test"), out)
    out.rename(tmp_path / ".ds.old-12345")
    files.remove_leftovers(out)
    assert load_dataset(out).meta["name"] == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
