"""The sparse graph: interaction matrix, normalised adjacency, co-occurrence."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import from_rows
from recsys.data.graph import (cooccurrence, interaction_matrix, normalized_adjacency,
                               shares_playlist, side_blocks, spectral_embedding)

# 2 playlists × 3 tracks: p0 = {t0, t1}, p1 = {t1, t2} (the repeated row counts once)
INTERACTIONS = pd.DataFrame({"playlist_idx": [0, 0, 1, 1, 1], "track_idx": [0, 1, 1, 2, 2]})


def test_interaction_matrix_is_binary_with_the_given_shape():
    R = interaction_matrix(INTERACTIONS, n_playlists=3, n_tracks=4)
    assert R.shape == (3, 4) and R.dtype == np.float32
    assert R.toarray().tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]


def test_interaction_matrix_of_a_dataset():
    rows = pd.DataFrame({"playlist_id": ["a", "a", "b"], "playlist_name": ["A", "A", "B"],
                         "name": ["x", "y", "x"], "artist": ["u", "u", "u"]})
    R = interaction_matrix(from_rows(rows, name="t", source="test"))
    assert R.toarray().tolist() == [[1, 1], [1, 0]]


def test_normalized_adjacency_on_a_2x3_graph():
    A = normalized_adjacency(interaction_matrix(INTERACTIONS, 2, 3)).toarray()
    # degrees: p0 = 2, p1 = 2, t0 = 1, t1 = 2, t2 = 1; entry = 1 / sqrt(d_i d_j)
    s2, half = 1 / np.sqrt(2), 0.5
    expected = np.array([
        [0, 0, s2, half, 0],
        [0, 0, 0, half, s2],
        [s2, 0, 0, 0, 0],
        [half, half, 0, 0, 0],
        [0, s2, 0, 0, 0],
    ])
    np.testing.assert_allclose(A, expected, rtol=1e-6)
    np.testing.assert_array_equal(A, A.T)


def test_side_blocks_add_artist_nodes_to_the_adjacency():
    tracks = pd.DataFrame({"artist_id": ["a", "a", "b"], "album_id": ["x", "", "y"]})
    artists, albums = side_blocks(tracks)
    # artist a has two tracks -> one node; b and both albums have a single track -> dropped
    assert artists.toarray().tolist() == [[1], [1], [0]]
    assert albums.shape == (3, 0)
    A = normalized_adjacency(interaction_matrix(INTERACTIONS, 2, 3), [artists, albums]).toarray()
    assert A.shape == (6, 6)
    np.testing.assert_array_equal(A, A.T)
    # the artist node (index 5, degree 2) joins t0 (degree 1 + 1) and t1 (degree 2 + 1)
    assert A[5, 2] == pytest.approx(1 / np.sqrt(2 * 2))
    assert A[5, 3] == pytest.approx(1 / np.sqrt(2 * 3))
    assert A[5, 4] == 0
    assert side_blocks(tracks, columns=("genre",)) == []  # a column the source lacks is skipped


def test_isolated_nodes_stay_zero():
    A = normalized_adjacency(interaction_matrix(INTERACTIONS, 3, 4)).toarray()
    assert not A[2].any() and not A[-1].any() and np.isfinite(A).all()


def test_cooccurrence_lookup():
    C = cooccurrence(interaction_matrix(INTERACTIONS, 2, 3))
    assert C.toarray().tolist() == [[1, 1, 0], [1, 2, 1], [0, 1, 1]]
    a = np.array([0, 0, 1, 2, 2])
    b = np.array([1, 2, 2, 0, 2])
    assert shares_playlist(C, a, b).tolist() == [True, False, True, False, True]
    assert shares_playlist(C, np.array([], dtype=int), np.array([], dtype=int)).shape == (0,)


def test_spectral_embedding_separates_communities_and_matches_propagation():
    # Two communities of playlists and tracks with a single bridge edge between them.
    rng = np.random.default_rng(0)
    dense = np.zeros((20, 30), dtype=np.float32)
    dense[:10, :15] = rng.random((10, 15)) < 0.6
    dense[10:, 15:] = rng.random((10, 15)) < 0.6
    dense[0, 29] = 1.0
    A = normalized_adjacency(sp.csr_matrix(dense))
    tracks = slice(20, 50)
    vectors = spectral_embedding(A, tracks, dim=4, seed=0)
    assert vectors.shape == (50, 4)
    np.testing.assert_allclose((vectors ** 2).sum(1).mean(), 1.0, rtol=1e-4)
    unit = vectors[tracks] / np.linalg.norm(vectors[tracks], axis=1, keepdims=True)
    cos = unit @ unit.T
    assert cos[:14, :14].mean() > cos[:14, 15:29].mean() + 0.5
    # Singular vectors: one propagation step maps the track block onto the playlist block up to scale.
    top = spectral_embedding(A, tracks, dim=1, seed=0)
    propagated = A @ top
    np.testing.assert_allclose(np.abs(propagated[:20, 0]) / np.abs(propagated[:20, 0]).max(),
                               np.abs(top[:20, 0]) / np.abs(top[:20, 0]).max(), atol=1e-4)
