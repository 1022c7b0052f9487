"""Versioned artifacts: round trip, atomic publishing under real crashes, corruption refused by
name, promote/prune, the `artifacts` command line."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fixture_artifacts import fixture_catalog, fixture_embeddings, make_fixture_artifact
from recsys import artifacts as art
from recsys.artifacts import ArtifactError, load_artifact
from recsys.training import artifact_writer
from recsys.training.artifact_writer import write_artifact
from recsys.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]


def publish_small(models_dir, version=None, make_current=True, n=30, dtype="float16", seed=0):
    rng = np.random.default_rng(seed)
    catalog = pd.DataFrame({
        "track_id": [f"t{i}" for i in range(n)], "name": [f"song {i}" for i in range(n)],
        "artist": [f"artist {i % 4}" for i in range(n)], "album": "", "artist_id": [f"a{i % 4}" for i in range(n)],
        "n_playlists": rng.integers(1, 9, n)})
    return write_artifact(models_dir, "small", embeddings=rng.normal(size=(n, 8)), catalog=catalog,
                       curves=[{"epoch": 1, "train_loss": 0.5}], config={"dim": 8},
                       dataset_meta={"name": "small"}, metrics={}, projection=rng.normal(size=(n, 2)),
                       dtype=dtype, make_current=make_current, version=version)


def test_round_trip_by_path_and_by_name(tmp_path):
    models = tmp_path / "models"
    path = make_fixture_artifact(models, dtype="float16")
    catalog = fixture_catalog()

    by_name = load_artifact("fixture", models)
    by_path = load_artifact(path)
    assert by_name.path == by_path.path == path
    assert art.current_version(models, "fixture") == path.name == by_name.version
    assert art.default_model(models) == "fixture"

    embeddings = by_path.embeddings
    assert isinstance(embeddings, np.memmap) and embeddings.dtype == np.float16
    assert embeddings.shape == (len(catalog), 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings.astype(np.float32), axis=1), 1.0, atol=2e-3)
    expected = fixture_embeddings(catalog)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(embeddings.astype(np.float32), expected, atol=2e-3)
    assert by_path.catalog["name"].tolist() == catalog["name"].tolist()
    assert "<img src=x onerror=alert(1)>" in by_path.catalog["name"].tolist()
    assert by_path.curves["epoch"].tolist() == [1, 2, 3]
    assert by_path.projection.shape == (len(catalog), 2)

    manifest = by_path.manifest
    assert manifest["embedding"] == {"rows": len(catalog), "dim": 16, "dtype": "float16", "l2_normalized": True}
    assert manifest["dataset"]["name"] == "fixture" and manifest["config"]["dim"] == 16
    assert set(manifest["files"]) == set(art.DATA_FILES)
    assert {"numpy", "pandas", "pyarrow", "python"} <= set(manifest["libraries"])
    assert "git_commit" in manifest and "created_at" in manifest


def test_versions_sort_in_publication_order_and_current_moves(tmp_path):
    first = publish_small(tmp_path, seed=1)
    second = publish_small(tmp_path, seed=2)
    assert art.versions(tmp_path, "small") == sorted([first.name, second.name])
    assert art.current_version(tmp_path, "small") == second.name
    kept = publish_small(tmp_path, seed=3, make_current=False)
    assert art.current_version(tmp_path, "small") == second.name
    assert len(art.list_artifacts(tmp_path)) == 3 and kept.exists()


@pytest.mark.parametrize("change, message", [
    (lambda kw: kw.update(embeddings=kw["embeddings"][:-1]), "rows"),
    (lambda kw: kw.update(catalog=kw["catalog"].drop(columns="artist")), "missing columns"),
    (lambda kw: kw["embeddings"].__setitem__((0, 0), np.nan), "finite"),
    (lambda kw: kw.update(dtype="int8"), "dtype"),
    (lambda kw: kw.update(projection=np.zeros((3, 2))), "projection"),
])
def test_publish_rejects_bad_input_and_leaves_nothing(tmp_path, change, message):
    catalog = fixture_catalog()
    kwargs = dict(embeddings=fixture_embeddings(catalog), catalog=catalog, curves=[], config={},
                  dataset_meta={}, metrics={}, projection=np.zeros((len(catalog), 2)))
    change(kwargs)
    with pytest.raises(ArtifactError, match=message):
        write_artifact(tmp_path, "m", **kwargs)
    assert not (tmp_path / "m").exists() or list((tmp_path / "m").iterdir()) == []


def test_failed_write_mid_publish_keeps_previous_version(tmp_path):
    before = make_fixture_artifact(tmp_path)
    catalog = fixture_catalog()
    catalog["popularity"] = catalog["popularity"].astype(object)
    catalog.loc[3, "popularity"] = "not a number"  # pyarrow fails writing tracks.parquet
    with pytest.raises(Exception):
        write_artifact(tmp_path, "fixture", embeddings=fixture_embeddings(catalog), catalog=catalog,
                    curves=[], config={}, dataset_meta={}, metrics={}, projection=np.zeros((len(catalog), 2)))
    assert load_artifact("fixture", tmp_path).path == before
    assert sorted(p.name for p in (tmp_path / "fixture").iterdir()) == sorted([art.CURRENT, before.name])


def test_disk_full_mid_publish_keeps_previous_version(tmp_path):
    """A real failing write: the child may write at most 1 MB per file, the new embeddings need 3."""
    before = publish_small(tmp_path)
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from tests.test_artifacts import publish_small
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so the write fails with EFBIG, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        publish_small({str(tmp_path)!r}, n=100_000, dtype="float32")
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           cwd=ROOT)
    assert child.returncode != 0 and "OSError" in child.stderr.splitlines()[-1]
    assert art.versions(tmp_path, "small") == [before.name]
    assert load_artifact("small", tmp_path).path == before
    assert not [p for p in (tmp_path / "small").iterdir() if p.name.startswith(".")]


def test_kill_9_at_any_moment_leaves_a_loadable_current_version(tmp_path):
    publish_small(tmp_path)
    script = textwrap.dedent(f"""
        import sys
        from tests.test_artifacts import publish_small
        for seed in range(10_000):
            publish_small({str(tmp_path)!r}, n=20_000, seed=seed)
            print("published", flush=True)
    """)
    rng = np.random.default_rng(0)
    for delay in rng.uniform(0.0, 0.3, size=5):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert child.stdout.readline().strip() == "published"
        time.sleep(delay)  # then kill somewhere inside the next publish
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        current = load_artifact("small", tmp_path)
        assert current.version == art.current_version(tmp_path, "small")
        for version in art.versions(tmp_path, "small"):  # every listed version is complete
            art.verify(tmp_path / "small" / version)
    assert len(art.versions(tmp_path, "small")) >= 6


def flip_byte(path: Path, offset: int = -20) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, file, reason", [
    (lambda p: os.truncate(p / art.EMBEDDINGS, 200), art.EMBEDDINGS, "bytes"),
    (lambda p: flip_byte(p / art.EMBEDDINGS), art.EMBEDDINGS, "checksum"),
    (lambda p: flip_byte(p / art.CATALOG, 100), art.CATALOG, "checksum"),
    (lambda p: (p / art.CURVES).unlink(), art.CURVES, "missing"),
    (lambda p: (p / art.MANIFEST).write_text("{not json"), art.MANIFEST, "sha256 does not match"),
    (lambda p: (p / art.MANIFEST_SHA256).unlink(), art.MANIFEST, "checksum, is missing"),
])
def test_damaged_file_is_refused_by_name(fixture_artifact, damage, file, reason):
    damage(fixture_artifact)
    with pytest.raises(ArtifactError, match=reason) as failure:
        load_artifact(fixture_artifact)
    assert str(fixture_artifact / file) in str(failure.value)


def rewrite_manifest(root: Path, manifest: dict | str) -> None:
    """Replace a version's manifest and record its new sha256, as a deliberate edit would."""
    content = (manifest if isinstance(manifest, str) else json.dumps(manifest)).encode()
    (root / art.MANIFEST).write_bytes(content)
    (root / art.MANIFEST_SHA256).write_text(f"{hashlib.sha256(content).hexdigest()}  manifest.json\n")


def test_manifest_carries_its_sha256_in_the_sha256sum_format(fixture_artifact):
    done = subprocess.run(["sha256sum", "-c", art.MANIFEST_SHA256], cwd=fixture_artifact,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "manifest.json: OK" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("offset", [5, 40, 120, -30, -3])
def test_a_single_flipped_bit_anywhere_in_the_manifest_is_refused(fixture_artifact, offset):
    """Even where the result is valid JSON with plausible values (a digit, a letter of a name)."""
    path = fixture_artifact / art.MANIFEST
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256 does not match manifest.sha256") as failure:
        load_artifact(fixture_artifact)
    assert str(path) in str(failure.value)


def test_a_damaged_manifest_checksum_is_refused_naming_the_manifest(fixture_artifact):
    flip_byte(fixture_artifact / art.MANIFEST_SHA256, 3)
    with pytest.raises(ArtifactError, match="manifest.json: sha256 does not match manifest.sha256"):
        load_artifact(fixture_artifact)


@pytest.mark.parametrize("edit, complaint", [
    (lambda m: m["files"][art.CURVES].pop("bytes"), "files 'curves.csv' 'bytes' is missing"),
    (lambda m: m["files"].pop(art.PROJECTION), "files 'projection.parquet' is missing"),
    (lambda m: m["embedding"].update(rows="30"), "embedding 'rows' is missing or not a int"),
    (lambda m: m["embedding"].update(dim=True), "embedding 'dim' is missing or not a int"),
    (lambda m: m["embedding"].update(dtype="float64"), "embedding 'dtype' is 'float64'"),
    (lambda m: m.update(files=[]), "'files' is missing or not a dict"),
    (lambda m: m.pop("version"), "'version' is missing or not a str"),
    (lambda m: m.update(metrics=[1]), "'metrics' is missing or not a dict"),
])
def test_a_manifest_of_the_wrong_structure_is_refused_never_a_key_error(fixture_artifact, edit, complaint):
    """With a checksum that matches (a hand edit, or a bug in a writer): refused by structure."""
    manifest = json.loads((fixture_artifact / art.MANIFEST).read_text())
    edit(manifest)
    rewrite_manifest(fixture_artifact, manifest)
    with pytest.raises(ArtifactError, match=complaint) as failure:
        load_artifact(fixture_artifact)
    assert str(fixture_artifact / art.MANIFEST) in str(failure.value)
    rows = art.list_artifacts(fixture_artifact.parents[1])
    assert [row["error"] for row in rows if "error" in row] == [str(failure.value)]


DEEP = "[" * 100_000 + "]" * 100_000


def test_a_deeply_nested_manifest_with_a_matching_checksum_is_an_artifact_error(fixture_artifact):
    rewrite_manifest(fixture_artifact, '{"schema_version": 1, "x": ' + DEEP + "}")
    with pytest.raises(ArtifactError, match="manifest.json: unreadable .JSON nested too deeply"):
        load_artifact(fixture_artifact)
    [row] = art.list_artifacts(fixture_artifact.parents[1])
    assert "nested too deeply" in row["error"]


def test_wrong_shape_with_matching_checksum_is_refused(fixture_artifact):
    """A swapped embeddings file whose manifest checksum was also updated still fails on shape."""
    np.save(fixture_artifact / art.EMBEDDINGS, np.zeros((5, 16), dtype=np.float32))
    manifest = json.loads((fixture_artifact / art.MANIFEST).read_text())
    manifest["files"][art.EMBEDDINGS] = artifact_writer._file_record(fixture_artifact / art.EMBEDDINGS)
    rewrite_manifest(fixture_artifact, manifest)
    with pytest.raises(ArtifactError, match=r"track_embeddings.npy: shape \(5, 16\)"):
        load_artifact(fixture_artifact)


def test_pickled_embeddings_are_never_unpickled(fixture_artifact):
    np.save(fixture_artifact / art.EMBEDDINGS, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((fixture_artifact / art.MANIFEST).read_text())
    manifest["files"][art.EMBEDDINGS] = artifact_writer._file_record(fixture_artifact / art.EMBEDDINGS)
    rewrite_manifest(fixture_artifact, manifest)
    with pytest.raises(ArtifactError, match="track_embeddings.npy: unreadable"):
        load_artifact(fixture_artifact)


def test_unknown_model_names_the_models_available(fixture_artifact):
    with pytest.raises(ArtifactError, match=r"nope.*fixture"):
        load_artifact("nope", fixture_artifact.parents[1])


def test_promote_and_prune(tmp_path):
    paths = [publish_small(tmp_path, version=f"2026010{i}T000000Z-0000000{i}", seed=i) for i in range(1, 5)]
    names = [p.name for p in paths]
    assert art.current_version(tmp_path, "small") == names[-1]

    assert art.promote(tmp_path, "small", names[0]) == paths[0]
    assert load_artifact("small", tmp_path).version == names[0]

    removed = art.prune(tmp_path, "small", keep=2)
    assert [p.name for p in removed] == [names[1]]  # the oldest is current, so it stays
    assert art.versions(tmp_path, "small") == [names[0], names[2], names[3]]

    with pytest.raises(ArtifactError, match="no such version"):
        art.promote(tmp_path, "small", names[1])
    with pytest.raises(ArtifactError, match="keep=0"):
        art.prune(tmp_path, "small", keep=0)

    flip_byte(paths[3] / art.CATALOG, 100)
    with pytest.raises(ArtifactError, match="tracks.parquet"):
        art.promote(tmp_path, "small", names[3])
    assert art.current_version(tmp_path, "small") == names[0]


def test_prune_removes_stale_leftovers_of_crashed_publishes(tmp_path):
    publish_small(tmp_path)
    stale, fresh = tmp_path / "small" / ".publishing-old", tmp_path / "small" / ".publishing-live"
    for leftover in (stale, fresh):
        leftover.mkdir()
        (leftover / art.EMBEDDINGS).write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert art.prune(tmp_path, "small", keep=1) == [stale]
    assert fresh.exists() and not stale.exists()


def test_default_model_needs_a_current_version(tmp_path):
    publish_small(tmp_path, make_current=False)
    with pytest.raises(ArtifactError, match="no current version"):
        art.set_default_model(tmp_path, "small")
    assert art.default_model(tmp_path) is None


def test_cli_list_verify_promote_prune(tmp_path, capsys):
    first = publish_small(tmp_path, version="20260101T000000Z-00000001", seed=1)
    second = publish_small(tmp_path, version="20260102T000000Z-00000002", seed=2)
    models = ["--models-dir", str(tmp_path)]

    assert cli_main(["artifacts", "list", *models]) == 0
    listing = capsys.readouterr().out
    assert f"* small/{second.name}" in listing and f"  small/{first.name}" in listing

    assert cli_main(["artifacts", "verify", *models]) == 0
    assert capsys.readouterr().out.count("ok   small/") == 2

    assert cli_main(["artifacts", "promote", *models, "small", first.name]) == 0
    assert art.current_version(tmp_path, "small") == first.name
    assert cli_main(["artifacts", "prune", *models, "small", "--keep", "1"]) == 0
    assert art.versions(tmp_path, "small") == [first.name, second.name]  # the newest and the current
    assert "kept 2 version(s)" in capsys.readouterr().out

    flip_byte(first / art.EMBEDDINGS)
    assert cli_main(["artifacts", "verify", *models, "small"]) == 1
    assert f"{first / art.EMBEDDINGS}: sha256 checksum mismatch" in capsys.readouterr().out
    assert cli_main(["artifacts", "promote", *models, "small", "nope"]) == 2
    assert "no such version" in capsys.readouterr().err
