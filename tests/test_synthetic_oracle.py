"""The synthetic MPD's generative oracle (scripts/synthetic_oracle.py): the ceiling that the
recommendation-quality targets are read against on synthetic data."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.data.dataset import load_dataset
from recsys.data.graph import interaction_matrix
from recsys.data.splits import standard_split
from recsys.evaluation import evaluate
from recsys.ingest.mpd import ingest_mpd
from recsys.ingest.synthetic_mpd import write_synthetic_mpd
from recsys.models.baselines import BASELINES
from scripts.synthetic_oracle import GenerativeOracle, genre_probabilities, main


@pytest.fixture(scope="module")
def small_mpd(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    write_synthetic_mpd(root / "mpd", 2, playlists_per_slice=300, n_tracks=3000, n_genres=4, seed=5)
    ingest_mpd(root / "mpd", root / "ds", workers=1)
    return root / "ds"


def test_the_oracle_outscores_every_baseline_fitted_on_the_playlists(small_mpd):
    dataset = load_dataset(small_mpd)
    split = standard_split(dataset, n_test=80, n_val=10, seed=0)
    oracle = GenerativeOracle(genre_probabilities(dataset.tracks["track_id"], 3000, 4, seed=5))
    ceiling = evaluate(oracle, split.test, catalog=split.catalog)["ndcg_at_500"]
    R = interaction_matrix(split.train, dataset.n_playlists, dataset.n_tracks)
    for name in ("popularity", "itemknn", "itemknn_artist"):
        baseline = evaluate(BASELINES[name]().fit(R, dataset), split.test, catalog=split.catalog)["ndcg_at_500"]
        assert baseline < ceiling, name
    # With the tracks' probabilities shuffled the "oracle" knows nothing: the check can fail.
    shuffled = genre_probabilities(dataset.tracks["track_id"], 3000, 4, seed=5)
    wrong = GenerativeOracle(shuffled[:, np.random.default_rng(0).permutation(shuffled.shape[1])])
    assert evaluate(wrong, split.test, catalog=split.catalog)["ndcg_at_500"] < ceiling


def test_the_script_prints_the_ceiling(small_mpd, capsys):
    assert main([str(small_mpd), "--n-test", "40", "--n-val", "10", "--tracks", "3000", "--genres", "4",
                 "--catalog-seed", "5"]) == 0
    assert "generative oracle on 40 test playlists: NDCG@500 0." in capsys.readouterr().out
