"""Baselines: one contract over every model on the two-genre checkerboard, plus what each
promises on its own (EASE's exact closed form, the artist links of ArtistItemKNN)."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import from_rows
from recsys.data.graph import interaction_matrix
from recsys.models import baselines
from recsys.models.baselines import BASELINES, EASE, ArtistItemKNN, ItemKNN, Popularity


def _genre_tracks(dataset, genre):
    return dataset.tracks.index[dataset.tracks["genre"] == genre].to_numpy()


# Small budgets where a baseline trains for a wall-clock time: the checkerboard is learnt in seconds.
FAST = {"pyg_lightgcn": {"seconds": 3.0}}


@pytest.mark.parametrize("name", [n for n in BASELINES if n != "popularity"])
def test_seeds_from_one_genre_bring_back_that_genre(name, two_genre_dataset):
    ds = two_genre_dataset
    model = BASELINES[name](**FAST.get(name, {})).fit(interaction_matrix(ds), ds)
    a, b = _genre_tracks(ds, "A"), _genre_tracks(ds, "B")
    scores = model.score([a[:3], b[:3]])
    assert scores.shape == (2, ds.n_tracks)
    for row, seeds, same in ((scores[0], a[:3], a), (scores[1], b[:3], b)):
        row = row.copy()
        row[seeds] = -np.inf
        top = np.argsort(-row)[:10]
        assert np.isin(top, same).all(), f"{name} recommended across genres"


def test_popularity_ignores_the_seeds(two_genre_dataset):
    ds = two_genre_dataset
    R = interaction_matrix(ds)
    scores = Popularity().fit(R, ds).score([np.array([0]), np.array([len(ds.tracks) - 1])])
    np.testing.assert_array_equal(scores[0], scores[1])
    most_popular = int(np.argmax(np.asarray(R.sum(axis=0)).ravel()))
    assert int(np.argmax(scores[0])) == most_popular


def _artist_rows():
    # x1 and x2 are by artist X but never share a playlist; y is in a playlist with x1
    playlists = {"p1": [("x1", "X"), ("y", "Y")], "p2": [("x2", "X"), ("z", "Z")], "p3": [("y", "Y"), ("z", "Z")]}
    return from_rows(pd.DataFrame([{"playlist_id": p, "playlist_name": p, "name": n, "artist": a}
                                   for p, tracks in playlists.items() for n, a in tracks]),
                     name="artists", source="test")


def test_artist_weight_links_tracks_by_the_same_artist():
    ds = _artist_rows()
    idx = {name: i for i, name in enumerate(ds.tracks["name"])}
    R = interaction_matrix(ds)
    seeds = [np.array([idx["x1"]])]
    plain = ItemKNN().fit(R, ds).score(seeds)[0]
    aware = ArtistItemKNN(artist_weight=1.0, album_weight=0.0).fit(R, ds).score(seeds)[0]
    assert plain[idx["x2"]] < 1e-6                 # no shared playlist: only the tie-break
    assert aware[idx["x2"]] > aware[idx["z"]]      # shared artist beats an unrelated track
    # cosine of x1 = (p1, X) and x2 = (p2, X) with unit weights: 1 / (√2 · √2)
    assert aware[idx["x2"]] == pytest.approx(0.5, abs=1e-6)


def _dense_ease_scores(R, l2, seeds):
    X = R.toarray().astype(np.float64)
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    u = np.zeros(X.shape[1])
    u[seeds] = 1.0
    return u @ B


@pytest.mark.parametrize("shape", [(8, 30), (40, 12)], ids=["woodbury", "dense_items"])
def test_ease_matches_the_textbook_closed_form(shape, monkeypatch):
    monkeypatch.setattr(baselines, "_EASE_COLUMN_CHUNK", 7)  # several column blocks on a small matrix
    rng = np.random.default_rng(1)
    R = sp.csr_matrix((rng.random(shape) < 0.3).astype(np.float32))
    seeds = np.array([0, 3, 5])
    scores = EASE(l2=3.0).fit(R).score([seeds])[0]
    others = np.setdiff1d(np.arange(shape[1]), seeds)
    np.testing.assert_allclose(scores[others], _dense_ease_scores(R, 3.0, seeds)[others], atol=1e-6)


def test_ease_restricted_to_popular_tracks_when_too_big():
    rng = np.random.default_rng(2)
    R = sp.csr_matrix((rng.random((30, 40)) < 0.3).astype(np.float32))
    model = EASE(l2=3.0, max_dense=10).fit(R)
    assert model.restricted and len(model.items) == 10
    popularity = np.asarray(R.sum(axis=0)).ravel()
    assert popularity[model.items].min() >= np.sort(popularity)[-10]
    scores = model.score([model.items[:2]])[0]
    left_out = np.setdiff1d(np.arange(40), model.items)
    assert np.all(scores[left_out] < 1e-6)         # only the popularity tie-break


def test_artist_weights_need_the_dataset(two_genre_dataset):
    with pytest.raises(ValueError, match="needs the dataset"):
        ArtistItemKNN().fit(interaction_matrix(two_genre_dataset))
