"""The hybrid continuation ranker (recsys.serving.continuation) and the one-version-of-a-song rule,
on hand-built arrays whose right answers are known."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.serving.continuation import Blend, ContinuationRanker, song_codes
from recsys.text import song_key, song_title


@pytest.mark.parametrize("version, original", [
    ("Levels - Radio Edit", "Levels"),
    ("Sweet Child O' Mine - Live in Tokyo 1988", "Sweet Child O' Mine"),
    ("Yesterday - Remastered 2009", "Yesterday"),
    ("Taki Taki (feat. Selena Gomez, Ozuna & Cardi B)", "Taki Taki"),
    ("Knockin' On Heaven's Door [Live]", "Knockin' On Heaven's Door"),
    ("Memories - Dillon Francis Remix", "Memories"),
    ("DESPACITO - Remix", "Despacito"),
])
def test_versions_of_a_song_share_its_key(version, original):
    assert song_key(version, "Artist") == song_key(original, "artist")


@pytest.mark.parametrize("a, b", [
    (("Levels", "Avicii"), ("Levels", "Nick Jonas")),          # another artist's song
    (("Part 1 - Intro", "X"), ("Part 1", "X")),                 # a dash suffix naming no version
    (("Hello", "Adele"), ("Hello Again", "Adele")),
])
def test_different_songs_keep_different_keys(a, b):
    assert song_key(*a) != song_key(*b)


def test_a_title_that_is_only_brackets_keeps_its_text():
    assert song_title("(Untitled)") == "(untitled)"


def _ranker(n_seeds=3, per_seed=30, blend=Blend(embedding=0.0, popularity=0.0, seed_share=0.5)):
    """Seed s (rows 0..n_seeds-1) has ``per_seed`` neighbours of its own, of which seed 0's have
    much higher cosines; artists: one per seed group; songs all distinct except where a test
    overrides them. No playlists, flat embeddings."""
    n = n_seeds + n_seeds * per_seed
    neighbours = np.full((n, per_seed), -1, dtype=np.int32)
    weights = np.zeros((n, per_seed), dtype=np.float16)
    artist = np.zeros(n, dtype=np.int64)
    for s in range(n_seeds):
        rows = n_seeds + s * per_seed + np.arange(per_seed)
        neighbours[s] = rows
        weights[s] = np.linspace(0.9 if s == 0 else 0.2, 0.5 if s == 0 else 0.1, per_seed)
        artist[rows] = 100 + s * 10 + np.arange(per_seed) % 5   # five artists per seed group
    embeddings = np.zeros((n, 4), dtype=np.float32)
    embeddings[:, 0] = 1.0

    def nearest(query, k):
        return np.arange(min(k, n)), np.ones(min(k, n), dtype=np.float32)

    empty = np.zeros(0, dtype=np.int32)
    return ContinuationRanker(
        neighbours=neighbours, neighbour_weights=weights, track_playlists_indptr=np.zeros(n + 1, np.int64),
        track_playlists=empty, playlist_tracks_indptr=np.zeros(1, np.int64), playlist_tracks=empty,
        embeddings=embeddings, n_playlists=np.arange(n)[::-1].copy(), song_codes=np.arange(n),
        artist_codes=artist, nearest=nearest, blend=blend)


def group_of(rows, n_seeds=3, per_seed=30):
    return (np.asarray(rows) - n_seeds) // per_seed


def test_every_seed_is_heard_even_when_one_seed_has_far_stronger_neighbours():
    ranked = _ranker().rank(np.array([0, 1, 2]), 20)
    counts = np.bincount(group_of(ranked.rows), minlength=3)
    assert (counts >= 3).all(), counts
    assert counts[0] > counts[1]                           # the rest still follows the scores
    assert np.array_equal(group_of(ranked.rows), ranked.because)  # each row names its seed
    assert (np.diff(ranked.scores) <= 0).all()


def test_without_the_seed_share_the_strong_seed_drowns_the_others():
    ranker = _ranker(blend=Blend(embedding=0.0, popularity=0.0, seed_share=0.0, fusion=0.0))
    counts = np.bincount(group_of(ranker.rank(np.array([0, 1, 2]), 20).rows), minlength=3)
    assert counts[1] + counts[2] < 3  # what the share above prevents


def test_a_seed_the_model_knows_nothing_about_is_heard_through_its_genre():
    ranker = _ranker()
    ranker.neighbours[2] = -1          # in no training playlist, no artist or album links:
    ranker.embeddings[2] = 0.0         # no neighbours and a zero embedding
    assert not (ranker.rank(np.array([0, 1, 2]), 20).because == 2).any()
    ranker.genre_codes = np.concatenate([[0, 1, 2], group_of(np.arange(3, 93))])
    ranked = ranker.rank(np.array([0, 1, 2]), 20)
    mine = ranked.rows[ranked.because == 2]
    assert len(mine) >= 3 and (group_of(mine) == 2).all()
    # the most popular of its genre (n_playlists falls with the row number)
    assert list(mine[:3]) == [63, 64, 65]


def test_seeds_banned_rows_and_disallowed_rows_never_come_back():
    ranker = _ranker()
    allowed = np.ones(ranker.n_tracks, dtype=bool)
    allowed[3:8] = False
    ranked = ranker.rank(np.array([0, 1]), 40, banned=np.array([40, 41]), allowed=allowed)
    assert not set(ranked.rows) & {0, 1, 40, 41, 3, 4, 5, 6, 7}
    assert len(ranked.rows) == 40 and len(set(ranked.rows)) == 40


def test_another_version_of_a_seed_or_a_second_version_is_dropped_unless_allowed():
    ranker = _ranker()
    songs = ranker.song_codes.copy()
    songs[3] = songs[0]        # seed 0's best neighbour is another version of seed 0
    songs[4] = songs[5]        # two versions of one song among the candidates
    ranker.song_codes = songs
    rows = ranker.rank(np.array([0, 1, 2]), 20).rows
    assert 3 not in rows and not {4, 5} <= set(rows)
    assert {3, 4, 5} <= set(ranker.rank(np.array([0, 1, 2]), 20, allow_versions=True).rows)


def test_max_per_artist_caps_every_artist():
    rows = _ranker().rank(np.array([0, 1, 2]), 20, max_per_artist=2).rows
    artists = _ranker().artist_codes[rows]
    assert np.bincount(artists).max() <= 2 and len(rows) == 20


def test_too_few_candidates_are_filled_with_popular_tracks_marked_without_a_seed():
    ranker = _ranker(n_seeds=1, per_seed=5)
    ranked = ranker.rank(np.array([0]), 5)   # 5 neighbours, and embedding candidates fill
    assert len(ranked.rows) == 5
    sparse = _ranker(n_seeds=2, per_seed=3)
    sparse.nearest = lambda query, k: (np.empty(0, np.int64), np.empty(0, np.float32))
    ranked = sparse.rank(np.array([0]), 6)
    assert set(ranked.rows[:3]) == {2, 3, 4}                 # seed 0's own neighbours first
    assert (ranked.because[3:] == -1).all() and (np.diff(ranked.scores) <= 0).all()


def test_playlists_holding_several_seeds_outvote_a_playlist_holding_one():
    # Tracks 0, 1 are seeds; playlist 0 = {0, 1, 2}, playlist 1 = {0, 3}; no item neighbours.
    n = 4
    ranker = ContinuationRanker(
        neighbours=np.full((n, 0), -1, np.int32), neighbour_weights=np.zeros((n, 0), np.float16),
        track_playlists_indptr=np.array([0, 2, 3, 4, 5]), track_playlists=np.array([0, 1, 0, 0, 1], np.int32),
        playlist_tracks_indptr=np.array([0, 3, 5]), playlist_tracks=np.array([0, 1, 2, 0, 3], np.int32),
        embeddings=np.eye(n, dtype=np.float32), n_playlists=np.array([2, 1, 1, 1]),
        song_codes=np.arange(n), artist_codes=np.arange(n),
        nearest=lambda q, k: (np.empty(0, np.int64), np.empty(0, np.float32)),
        blend=Blend(item=0.0, embedding=0.0, popularity=0.0))
    assert ranker.rank(np.array([0, 1]), 2).rows.tolist() == [2, 3]


def test_song_codes_group_versions():
    codes = song_codes(["Levels", "Levels - Radio Edit", "Levels"], ["Avicii", "Avicii", "Other"])
    assert codes[0] == codes[1] != codes[2]


def test_a_catalog_of_only_seeds_gives_an_empty_list_not_an_error():
    ranker = _ranker(n_seeds=1, per_seed=2)
    everything = np.arange(ranker.n_tracks)
    assert len(ranker.rank(everything, 5).rows) == 0
