"""The trainer and `python -m recsys train`: checkpoints, resume after kill -9, reproducibility."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import two_genre_rows

from recsys.artifacts import load_artifact
from recsys.data.dataset import from_rows, write_dataset
from recsys.data.splits import continuation_split
from recsys.errors import RecsysError
from recsys.training import train_model
from recsys.training.checkpoint import CheckpointError, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = {"steps_per_epoch": 4, "batch_size": 64, "negatives": 4, "embedding_dim": 16}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """Two genres, playlists of 20 tracks: long enough for the CLI's 10-seed validation split."""
    rows = two_genre_rows(n_playlists_per_genre=12, playlist_length=20)
    return write_dataset(from_rows(rows, name="two_genres", source="test"),
                         tmp_path_factory.mktemp("data") / "two_genres").path


def train_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "recsys", "train", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_minus_9_mid_training_then_resume_publishes_a_valid_artifact(dataset_dir, tmp_path):
    ckpt, models = tmp_path / "ckpt", tmp_path / "models"
    common = ["--dataset", dataset_dir, "--model", "lightgcn", "--out", models, "--checkpoint-dir", ckpt,
              "--val-playlists", 4, "--set", "steps_per_epoch=3", "--set", "batch_size=64",
              "--set", "embedding_dim=16", "--quiet",
              "--set", "patience=10000"]  # no early stop: the resumed run must add exactly two epochs
    proc = train_cli(*common, "--set", "epochs=10000", cwd=tmp_path)
    deadline = time.monotonic() + 90
    while not (ckpt / "last.pt").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint within 90 s"
        time.sleep(0.2)
    time.sleep(0.5)  # let it get into a later epoch, possibly mid-write of the next checkpoint
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not models.exists() or not any(models.rglob("manifest.json")), "a killed run published something"

    done = int(load_checkpoint(ckpt)["run"]["epoch"])
    assert done >= 1
    resumed = train_cli(*common, "--set", f"epochs={done + 2}", "--resume", cwd=tmp_path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    path = Path(out.strip().splitlines()[-1])  # the artifact path is the last line printed
    artifact = load_artifact(path)
    assert artifact.embeddings.shape == (len(artifact.catalog), 16)
    assert list(artifact.curves["epoch"]) == list(range(1, done + 3))
    assert artifact.manifest["config"]["model"] == "lightgcn"
    assert artifact.catalog["n_playlists"].min() >= 1


def test_resumed_run_equals_an_uninterrupted_one(dataset_dir, tmp_path):
    from recsys.data.dataset import load_dataset

    ds = load_dataset(dataset_dir)
    split = continuation_split(ds, n_test=0, n_val=4, seed=0)
    straight = train_model(ds, split, "lightgcn", {**TINY, "epochs": 4, "patience": 99}, progress=False)
    train_model(ds, split, "lightgcn", {**TINY, "epochs": 2, "patience": 99}, checkpoint_dir=tmp_path,
                progress=False)
    resumed = train_model(ds, split, "lightgcn", {**TINY, "epochs": 4, "patience": 99},
                          checkpoint_dir=tmp_path, resume=True, progress=False)
    np.testing.assert_array_equal(straight.embeddings, resumed.embeddings)
    np.testing.assert_array_equal(straight.curves[["train_loss", "val_ndcg@20"]].to_numpy(),
                                  resumed.curves[["train_loss", "val_ndcg@20"]].to_numpy())


@pytest.mark.parametrize("model_name", ["lightgcn", "sage"])
def test_seeded_cpu_runs_are_reproducible(dataset_dir, model_name):
    from recsys.data.dataset import load_dataset

    ds = load_dataset(dataset_dir)
    split = continuation_split(ds, n_test=0, n_val=4, seed=0)
    runs = [train_model(ds, split, model_name, {**TINY, "epochs": 2, "device": "cpu"}, progress=False)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].embeddings, runs[1].embeddings)
    other = train_model(ds, split, model_name, {**TINY, "epochs": 2, "seed": 1}, progress=False)
    assert not np.array_equal(runs[0].embeddings, other.embeddings)


def test_resume_refuses_a_checkpoint_of_another_run(dataset_dir, tmp_path):
    from recsys.data.dataset import load_dataset

    ds = load_dataset(dataset_dir)
    split = continuation_split(ds, n_test=0, n_val=4, seed=0)
    train_model(ds, split, "lightgcn", {**TINY, "epochs": 1}, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="another run"):
        train_model(ds, split, "lightgcn", {**TINY, "epochs": 2, "lr": 0.5}, checkpoint_dir=tmp_path,
                    resume=True, progress=False)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt"):
        train_model(ds, split, "lightgcn", {**TINY, "epochs": 2}, checkpoint_dir=tmp_path, resume=True,
                    progress=False)


def test_unknown_settings_and_bad_datasets_are_clear_errors(dataset_dir, tmp_path):
    from recsys.data.dataset import load_dataset

    ds = load_dataset(dataset_dir)
    split = continuation_split(ds, n_test=0, n_val=4, seed=0)
    with pytest.raises(RecsysError, match="learning_rate"):
        train_model(ds, split, "lightgcn", {"learning_rate": 0.1})
    proc = train_cli("--dataset", tmp_path / "nowhere", "--model", "gcn", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "nowhere" in err and out == ""


def test_train_without_a_model_publishes_the_served_hybrid(dataset_dir, tmp_path):
    """``python -m recsys train --dataset DIR``: the default recipe, served by the Recommender,
    answers genre-A seeds with genre A and gives each genre of a mixed seed list its place."""
    from recsys.serving.recommender import Recommender

    run = train_cli("--dataset", dataset_dir, "--out", tmp_path / "models", "--val-playlists", 4,
                    "--set", "epochs=2", "--set", "steps_per_epoch=3", "--set", "batch_size=64",
                    "--set", "embedding_dim=16", "--quiet",
                    "--checkpoint-dir", tmp_path / "ckpt", cwd=tmp_path)
    out, err = run.communicate(timeout=240)
    assert run.returncode == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path.parent.name == "hybrid"
    rec = Recommender.load(path)
    assert rec.artifact.manifest["config"]["blend"]["item"] > 0
    assert {"neighbours", "playlist_tracks", "song_codes"} <= set(rec.artifact.arrays)
    genre_of = dict(zip(rec.catalog["track_id"], rec.catalog["genre"]))
    a_seeds = [t for t, g in genre_of.items() if g == "A"][:3]
    b_seed = next(t for t, g in genre_of.items() if g == "B")
    answer = rec.recommend(a_seeds, k=10)
    assert {genre_of[t] for t in answer.track_ids} == {"A"}
    mixed = rec.recommend([*a_seeds[:2], b_seed], k=20).table  # three seeds: at least 3 each
    assert (mixed["because"] == b_seed).sum() >= 3
    assert {genre_of[t] for t in mixed.loc[mixed["because"] == b_seed, "track_id"]} == {"B"}


def test_the_published_catalog_keeps_genre_subgenre_popularity_year_and_audio_features(tmp_path):
    """The app reads these optional columns from the served catalog (the Explorer's colours and
    feature profile), so publishing must carry them through with their values."""
    import pandas as pd

    from recsys.data.dataset import AUDIO_FEATURES
    from recsys.training.publish import publish_result
    from recsys.training.trainer import TrainResult

    rows = (two_genre_rows(n_playlists_per_genre=3, tracks_per_genre=12, playlist_length=6))
    rows["subgenre"] = rows["genre"] + "-sub"
    rows["popularity"] = np.arange(len(rows)) % 100
    rows["release_year"] = 1990 + np.arange(len(rows)) % 30
    for i, feature in enumerate(AUDIO_FEATURES):
        rows[feature] = (np.arange(len(rows)) * (i + 1)) % 7 / 7
    dataset = from_rows(rows, name="audio", source="test")
    result = TrainResult(embeddings=np.eye(dataset.n_tracks, 8, dtype=np.float32) + 0.1,
                         curves=pd.DataFrame({"epoch": [1], "train_loss": [0.5]}), seconds=1.0,
                         config={"model": "lightgcn"})
    path = publish_result(tmp_path / "models", "lightgcn", dataset, result, dtype="float32")
    catalog = load_artifact(path).catalog
    optional = ["genre", "subgenre", "popularity", "release_year", *AUDIO_FEATURES]
    assert set(optional) <= set(catalog.columns)
    expected = dataset.tracks[optional].reset_index(drop=True)
    pd.testing.assert_frame_equal(catalog[optional], expected, check_dtype=False)


def test_train_settings_are_the_trainconfig_fields_with_their_types():
    from recsys.cli import parse_settings
    from recsys.training.cli import train_overrides

    settings = parse_settings(["negatives=8", "lr=1", "side_nodes=[]", "device=cpu", "holdout=0.25"])
    assert train_overrides(settings) == {"negatives": 8, "lr": 1.0, "side_nodes": (), "device": "cpu",
                                         "holdout": 0.25}
    with pytest.raises(RecsysError, match="learning_rate: not a training setting; known: .*lr"):
        train_overrides({"learning_rate": 0.1})
    with pytest.raises(RecsysError, match="epochs='many': expected int"):
        train_overrides(parse_settings(["epochs=many"]))
    with pytest.raises(RecsysError, match="expected KEY=VALUE"):
        parse_settings(["epochs"])
