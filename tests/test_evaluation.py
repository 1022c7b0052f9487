"""The evaluation harness and `python -m recsys evaluate`, on real files and a real subprocess."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.data.dataset import write_dataset
from recsys.data.splits import Query
from recsys.evaluation import EmbeddingScorer, evaluate, rank, tune, tune_coordinates
from recsys.reports import REPORT, ReportError, read_report, write_report
from recsys.scoring import l2_normalize, seed_query

ROOT = Path(__file__).resolve().parents[1]


class FixedScorer:
    """Scores every query with the same row: track t scores ``scores[t]``."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float64)

    def score(self, queries):
        return np.tile(self.scores, (len(queries), 1))


def test_evaluate_by_hand_and_never_ranks_seeds():
    # ranking by score: 0, 1, 2, ..., 9; track 0 is a seed, so the list is 1, 2, 3, ...
    scorer = FixedScorer(np.arange(10, 0, -1))
    queries = [Query(0, seeds=np.array([0]), targets=np.array([1, 3])),   # hits at ranks 1 and 3
               Query(1, seeds=np.array([0]), targets=np.array([9]))]     # hit at rank 9
    result = evaluate(scorer, queries, k=2)
    assert result["n_queries"] == 2 and result["k"] == 2
    assert result["r_precision"] == pytest.approx((1 / 2 + 0) / 2)
    assert result["recall_at_k"] == pytest.approx((1 / 2 + 0) / 2)
    assert result["hit_rate_at_k"] == pytest.approx(0.5)
    assert result["precision_at_k"] == pytest.approx((1 / 2 + 0) / 2)
    idcg = 1 + 1 / math.log2(3)
    assert result["ndcg_at_k"] == pytest.approx((1 / idcg + 0) / 2)
    assert result["clicks"] == 0.0                   # both first hits within the first 10
    assert result["coverage"] == pytest.approx(2 / 10)  # both top-2 lists are [1, 2]
    assert result["ms_per_query"] > 0


def test_rank_excludes_each_rows_own_seeds():
    scores = np.array([[5.0, 4, 3, 2, 1], [5.0, 4, 3, 2, 1]])
    assert rank(scores, [np.array([0, 2]), np.array([1])], depth=3).tolist() == [[1, 3, 4], [0, 2, 3]]


def test_embedding_scorer_scores_as_serving_does():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(6, 4)).astype(np.float32) * np.arange(1, 7)[:, None]
    seeds = np.array([1, 4])
    scores = EmbeddingScorer(embeddings).score([seeds])[0]
    normalized = l2_normalize(embeddings)
    np.testing.assert_allclose(scores, normalized @ seed_query(normalized, seeds), rtol=1e-5)
    # the seeds' mean cosine: a track equal to a seed scores at least as high as any unrelated one
    embeddings[0] = embeddings[1] * 5
    scores = EmbeddingScorer(embeddings).score([np.array([1])])[0]
    assert int(np.argmax(np.delete(scores, 1))) == 0


def test_tune_picks_the_best_validation_setting():
    queries = [Query(0, np.array([0]), np.array([5]))]
    grid = [{"best": 1}, {"best": 5}, {"best": 7}]
    make = lambda params: FixedScorer(np.eye(10)[params["best"]])
    best, trials = tune(make, grid, queries, k=3)
    assert best == {"best": 5}
    scores = [t["ndcg_at_500"] for t in trials]
    assert scores[1] == 1.0 and max(scores[0], scores[2]) < 1.0


def test_coordinate_ascent_moves_each_knob_and_never_repeats_a_setting():
    # The target track 5 ranks first only at a=2 and b=1; a alone lifts it part of the way.
    queries = [Query(0, np.array([0]), np.array([5]))]

    def make(params):
        scores = np.zeros(10)
        scores[5] = {0: 0.0, 1: 0.5, 2: 0.8}[params["a"]] + 0.5 * params["b"]
        scores[6:9] = [0.9, 0.7, 0.6]
        return FixedScorer(scores)

    best, trials = tune_coordinates(make, {"a": (0, 1, 2), "b": (0, 1)}, {"a": 0, "b": 0}, queries, k=3)
    assert best == {"a": 2, "b": 1}
    settings = [tuple(sorted(t["params"].items())) for t in trials]
    assert len(settings) == len(set(settings)) < 3 * 2 + 1


def test_write_report_orders_models_and_documents_the_run(tmp_path):
    base = {"n_queries": 3, "k": 20, "r_precision": 0.1, "recall_at_k": 0.2, "hit_rate_at_k": 0.5,
            "precision_at_k": 0.1, "clicks": 4.0, "coverage": 0.3, "ms_per_query": 1.5, "ndcg_at_k": 0.2,
            "recall_at_100": 0.6}
    results = {"weak": {**base, "ndcg_at_500": 0.1},
               "strong": {**base, "ndcg_at_500": 0.4, "train_seconds": 12.5, "notes": "a|b"}}
    path = write_report(results, tmp_path / "out", meta={"dataset": "toy"})
    report = json.loads(path.read_text())
    assert report["best"] == "strong" and report["k"] == 20 and report["meta"] == {"dataset": "toy"}
    assert [m["name"] for m in report["models"]] == ["strong", "weak"]
    assert report["models"][1]["train_seconds"] is None and report["models"][1]["notes"] == ""
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| strong | 0.4000 | 0.1000 | 4.00 | 0.6000 | 0.2000 |" in markdown
    assert "NDCG@500" in markdown and "NDCG@20" in markdown and "a/b" in markdown   # a pipe in notes cannot break the table



def test_read_report_reads_what_write_report_wrote(tmp_path):
    base = {"n_queries": 3, "k": 20, "r_precision": 0.1, "recall_at_k": 0.2, "hit_rate_at_k": 0.5,
            "precision_at_k": 0.1, "clicks": 4.0, "coverage": 0.3, "ms_per_query": 1.5, "ndcg_at_k": 0.2,
            "recall_at_100": 0.6, "ndcg_at_500": 0.3}
    assert read_report(tmp_path) is None
    write_report({"only": base}, tmp_path, meta={"dataset": "toy"})
    assert read_report(tmp_path) == json.loads((tmp_path / REPORT).read_text())


@pytest.mark.parametrize("content, complaint", [
    ('{"models": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"), (b"\xff\xfe", "unreadable"),
    ("[1, 2]", "not a comparison report"), ('{"meta": 3}', "not a comparison report"),
    ('{"models": []}', "schema_version None, this code reads 2"),
    ('{"schema_version": 1, "models": []}', "schema_version 1, this code reads 2"),
    ('{"schema_version": 2, "models": [1]}', "'models' is not a list of objects"),
])
def test_a_damaged_or_older_report_is_a_report_error(tmp_path, content, complaint):
    path = tmp_path / REPORT
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ReportError, match=complaint) as failure:
        read_report(tmp_path)
    assert str(path) in str(failure.value)


def _evaluate_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "recsys", "evaluate", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_end_to_end(two_genre_dataset, tmp_path):
    dataset_dir = tmp_path / "two_genres"
    write_dataset(two_genre_dataset, dataset_dir)
    run = _evaluate_cli("--dataset", str(dataset_dir), "--models", "popularity,itemknn,itemknn_artist",
                        "--n-test", "8", "--n-val", "4", "--n-seed", "3", "--k", "5", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report_path = tmp_path / run.stdout.strip().splitlines()[-1]
    # default location: reports/<dataset name>/ under the working directory
    assert report_path.resolve() == (tmp_path / "reports" / "two_genres" / "report.json").resolve()
    report = json.loads(report_path.read_text())
    scores = {m["name"]: m for m in report["models"]}
    assert set(scores) == {"popularity", "itemknn", "itemknn_artist"}
    assert report["k"] == 5 and report["meta"]["split"]["n_test"] == 8
    assert report["meta"]["split"]["protocol"] == "standard"
    assert scores["itemknn"]["ndcg_at_500"] > scores["popularity"]["ndcg_at_500"]
    assert set(scores["itemknn_artist"]["config"]) == {"artist_weight", "album_weight"}
    assert "15 settings tuned on validation NDCG@500" in scores["itemknn_artist"]["notes"]
    assert (report_path.parent / "report.md").is_file()
    cold = json.loads((report_path.parent / "report-cold-track.json").read_text())
    assert cold["meta"]["split"]["protocol"] == "cold-track" and cold["meta"]["split"]["n_seed"] == 3


def test_cli_refuses_unknown_models_and_bad_splits(two_genre_dataset, tmp_path):
    dataset_dir = tmp_path / "two_genres"
    write_dataset(two_genre_dataset, dataset_dir)
    run = _evaluate_cli("--dataset", str(dataset_dir), "--models", "itemknn,nope", "--out", str(tmp_path / "r"))
    assert run.returncode == 2 and "nope" in run.stderr and "itemknn_artist" in run.stderr
    run = _evaluate_cli("--dataset", str(dataset_dir), "--models", "itemknn", "--n-test", "100", "--n-seed", "3",
                        "--out", str(tmp_path / "r"))
    assert run.returncode == 2 and "only 40 playlists" in run.stderr
    assert not (tmp_path / "r").exists()


def test_harness_and_baselines_do_not_import_torch():
    code = ("import sys, recsys.evaluation, recsys.models.baselines, recsys.data.graph, recsys.data.splits, "
            "recsys.metrics; print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
