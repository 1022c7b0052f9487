"""The default recipe (recsys.training.hybrid) on planted structure: it must beat ItemKNN and every
GNN alone, fitted and trained on the same split and scored by the code that serves each."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import from_rows
from recsys.data.graph import interaction_matrix
from recsys.data.splits import standard_split
from recsys.evaluation import HEADLINE, EmbeddingScorer, RankerScorer, evaluate
from recsys.models import GNN_MODELS
from recsys.models.baselines import BASELINES
from recsys.training.hybrid import EMBEDDING_MODEL, fit_hybrid
from recsys.training.trainer import train_model

TINY = {"epochs": 5, "steps_per_epoch": 10, "batch_size": 128, "embedding_dim": 16}


def planted_rows(seed: int, n_genres: int = 4, artists_per_genre: int = 30, tracks_per_artist: int = 6,
                 n_playlists: int = 300) -> pd.DataFrame:
    """Playlists of one genre, each built from three of its artists (3-5 tracks of each): a
    track's playlist-mates are mostly its own artist's tracks, which few training playlists
    show together, and 120 artists are more than 16 embedding dimensions can keep apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_playlists):
        g = rng.integers(n_genres)
        for a in rng.choice(artists_per_genre, size=3, replace=False):
            for t in rng.choice(tracks_per_artist, size=rng.integers(3, 6), replace=False):
                rows.append({"playlist_id": f"p{p:03d}", "playlist_name": f"mix {p}",
                             "name": f"g{g} a{a} song {t}", "artist": f"g{g} artist {a}",
                             "album": f"g{g} a{a} album {t % 2}"})
    rows = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)  # shuffle each playlist's order
    return rows.sort_values("playlist_id", kind="stable")


@pytest.fixture(scope="module")
def planted():
    dataset = from_rows(planted_rows(0), name="planted", source="test")
    return dataset, standard_split(dataset, n_test=60, n_val=30, seed=0)


def test_the_hybrid_beats_itemknn_and_every_gnn_alone(planted):
    dataset, split = planted
    R = interaction_matrix(split.train, dataset.n_playlists, dataset.n_tracks)
    scores = {name: evaluate(BASELINES[name]().fit(R, dataset), split.test, catalog=split.catalog)[HEADLINE]
              for name in ("itemknn", "itemknn_artist")}
    trained = {name: train_model(dataset, split, name, TINY, progress=False) for name in GNN_MODELS}
    for name, result in trained.items():
        scores[name] = evaluate(EmbeddingScorer(result.embeddings), split.test, catalog=split.catalog)[HEADLINE]
    hybrid = fit_hybrid(dataset, split, trained[EMBEDDING_MODEL])
    ours = evaluate(RankerScorer(hybrid.ranker(), split.catalog), split.test, catalog=split.catalog)[HEADLINE]
    best_other = max(scores, key=scores.get)
    assert ours > scores[best_other], (ours, scores)
