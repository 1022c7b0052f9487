"""Fast versions of the reliability drills in scripts/drills/ (the full runs and their recorded
output are in docs/reliability.md): kill -9 during a checkpoint write and during a publish,
damaged artifact files, and fuzzed ingest and Recommender input."""
from scripts.drills import corruption_drill
from scripts.drills import crash_drill
from scripts.drills import fuzz_drill
import pytest
from conftest import two_genre_rows

from recsys.data.dataset import from_rows, write_dataset

TINY_TRAINING = ["--model", "lightgcn", "--set", f"epochs={crash_drill.EPOCHS}", "--set",
                 f"patience={crash_drill.EPOCHS}", "--set", "steps_per_epoch=2", "--set", "batch_size=64",
                 "--set", "embedding_dim=64", "--val-playlists", 4, "--quiet"]


def test_kill_9_while_checkpointing_and_while_publishing_then_resume(tmp_path):
    """Mid-epoch kills are tested in test_training.py; these are the two short windows. After each
    kill the current artifact (none, then the first resume's) verifies, and --resume publishes."""
    # 40 tracks: below recsys.projection's t-SNE threshold, so publishing takes milliseconds, not seconds.
    rows = two_genre_rows(n_playlists_per_genre=12, tracks_per_genre=20, playlist_length=16)
    dataset = write_dataset(from_rows(rows, name="two_genres", source="test"), tmp_path / "two_genres").path
    outcomes, watcher = crash_drill.run_drill(tmp_path, kills=2, dataset=dataset, phases=("checkpoint", "publish"),
                                              train_args=TINY_TRAINING, report=lambda line: None)
    # A kill aimed at a window of a few milliseconds can land just before or after it on a busy
    # machine; whatever it hit, the run must recover. The drill script aims 20 kills and counts
    # the phases they landed in (docs/reliability.md).
    assert len(outcomes) == 2 and all(o.passed for o in outcomes), [o.line() for o in outcomes]
    assert watcher.loads > 0 and not watcher.failures, watcher.failures[:3]


def test_damaged_artifact_files_are_refused_by_name_and_never_overwritten(tmp_path):
    outcomes = corruption_drill.run_drill(tmp_path, offsets=2, app=False, files=corruption_drill.artifacts.DATA_FILES,
                                          report=lambda line: None)
    assert len(outcomes) == 4 * 6
    assert all(o.passed and o.blamed == o.file for o in outcomes), [o.line() for o in outcomes if not o.passed]


def test_a_damaged_manifest_is_refused_by_name(tmp_path):
    outcomes = corruption_drill.run_drill(tmp_path, app=False, files=("manifest.json",),
                                          damages=("truncate-half", "truncate-empty", "invert-byte"),
                                          report=lambda line: None)
    assert all(o.passed and o.blamed == "manifest.json" for o in outcomes), [o.line() for o in outcomes]


def test_the_app_serves_the_older_version_when_the_current_one_is_damaged(tmp_path):
    [outcome] = corruption_drill.run_drill(tmp_path, offsets=1, files=("track_embeddings.npy",),
                                           damages=("flip-bit",), report=lambda line: None)
    assert outcome.app == "served v1-good" and outcome.passed, outcome.line()


def test_every_single_bit_flip_in_the_manifest_is_refused(tmp_path):
    outcomes = corruption_drill.run_drill(tmp_path, offsets=40, app=False, files=("manifest.json",),
                                          damages=("flip-bit",), report=lambda line: None)
    assert all(o.passed for o in outcomes), [o.line() for o in outcomes if not o.passed]


@pytest.mark.parametrize("target,examples", [("mpd", 15), ("csv", 15), ("recommender", 150)])
def test_fuzzed_input_gets_clear_errors_and_loses_no_good_file_or_row(target, examples, tmp_path):
    tally = fuzz_drill.run_target(target, examples, tmp_path)
    assert sum(tally.values()) >= examples


def test_a_malformed_playlist_costs_no_good_playlist_of_its_file(tmp_path):
    files = [{"name": "mpd.slice.0-999.json", "damage": None, "playlists": [
        ({"pid": 0, "name": "good", "num_tracks": 1, "tracks": [
            {"pos": 0, "track_uri": "spotify:track:a", "track_name": "A", "artist_uri": "spotify:artist:a",
             "artist_name": "Aa", "album_uri": "spotify:album:a", "album_name": "Al", "duration_ms": 1000}]}, None),
        ({"pid": 1, "name": "no tracks field", "num_tracks": 0}, "missing field"),
    ]}, {"name": "mpd.slice.1000-1999.json", "damage": None, "playlists": [
        ({"pid": 2, "name": "good too", "num_tracks": 0, "tracks": []}, None)]}]
    tally = fuzz_drill.Counter()
    fuzz_drill.check_mpd(files, tmp_path / "mpd", tally)
    assert tally[fuzz_drill.DROPPED] == 0


def test_an_unclosed_quote_is_refused_not_misread(tmp_path):
    row = {column: "x" for column in fuzz_drill.CSV_COLUMNS} | {"popularity": "50", "duration_sec": "200"}
    tally = fuzz_drill.Counter()
    fuzz_drill.check_damaged_csv([dict(row) for _ in range(3)], 0, "an unclosed quote", tmp_path, tally)
    assert tally == {"an unclosed quote: file refused, named": 1}


def test_a_line_with_a_field_too_many_is_refused_by_file_name(tmp_path):
    row = {column: "x" for column in fuzz_drill.CSV_COLUMNS} | {"popularity": "50", "duration_sec": "200"}
    tally = fuzz_drill.Counter()
    fuzz_drill.check_damaged_csv([dict(row) for _ in range(3)], 1, "a field extra", tmp_path, tally)
    assert tally == {"a field extra: file refused, named": 1}
