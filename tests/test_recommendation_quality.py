"""The committed default model (models/DEFAULT, the hybrid on the embedded TidyTuesday data) as a
listener hears it: every seed of a mix is heard, seeds that share a genre keep it, and no song
comes back in another version. Real artifact files, the real Recommender."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.artifacts import default_model
from recsys.serving.recommender import Recommender
from recsys.text import song_key

MODELS = Path(__file__).resolve().parents[1] / "models"
GENRES = ("pop", "rap", "rock", "latin", "r&b", "edm")


@pytest.fixture(scope="module")
def rec():
    assert default_model(MODELS) == "hybrid", "models/DEFAULT must serve the hybrid (make models)"
    return Recommender.load(None, models_dir=MODELS)


def ids(rec, *names_and_artists):
    catalog = rec.catalog
    out = []
    for name, artist in names_and_artists:
        match = catalog[(catalog["name"] == name) & (catalog["artist"] == artist)]
        assert len(match), f"{name} by {artist} is not in the catalog"
        out.append(match["track_id"].iloc[0])
    return out


def test_every_seed_of_a_three_genre_mix_is_heard(rec):
    """40 mixes of three seeds from three different genres (tracks in 2+ playlists, so they have
    neighbours): every seed is the reason for at least 3 of the top 20, and those tracks come
    from that seed's neighbourhood (they are not all from one other seed's genre)."""
    catalog = rec.catalog
    rng = np.random.default_rng(7)
    known = catalog[catalog["n_playlists"] >= 2]
    for _ in range(40):
        genres = rng.choice(GENRES, size=3, replace=False)
        seeds = [known[known["genre"] == g].sample(1, random_state=rng.integers(1 << 31))["track_id"].iloc[0]
                 for g in genres]
        table = rec.recommend(seeds, k=20).table
        assert (table["because"].value_counts().reindex(seeds, fill_value=0) >= 3).all()
        assert table["because"].value_counts().max() <= 20 - 2 * 3


def test_latin_seeds_that_share_playlists_keep_their_genre(rec):
    seeds = ids(rec, ("Despacito", "Luis Fonsi"), ("Mi Gente", "J Balvin"),
                ("Taki Taki (with Selena Gomez, Ozuna & Cardi B)", "DJ Snake"))
    table = rec.recommend(seeds, k=20).table
    genres = rec.catalog.set_index("track_id").loc[table["track_id"], "genre"]
    assert (genres == "latin").mean() >= 0.5, genres.value_counts().to_dict()


def test_no_seed_drowns_the_others(rec):
    seeds = ids(rec, ("Bohemian Rhapsody - Remastered 2011", "Queen"), ("Sweet Child O' Mine", "Guns N' Roses"),
                ("Livin' On A Prayer", "Bon Jovi"))
    table = rec.recommend(seeds, k=20).table
    assert (table["because"].value_counts().reindex(seeds, fill_value=0) >= 3).all()
    assert table["artist"].value_counts().max() <= 12


def test_no_other_version_of_a_seed_and_one_version_of_each_song(rec):
    seeds = ids(rec, ("Levels - Radio Edit", "Avicii"), ("Knockin' On Heaven's Door", "Guns N' Roses"),
                ("Sweet Child O' Mine", "Guns N' Roses"))
    table = rec.recommend(seeds, k=100).table
    keys = [song_key(n, a) for n, a in zip(table["name"], table["artist"])]
    seed_rows = rec.catalog.set_index("track_id").loc[seeds]
    seed_keys = {song_key(n, a) for n, a in zip(seed_rows["name"], seed_rows["artist"])}
    assert not seed_keys & set(keys)
    assert len(keys) == len(set(keys))


def test_an_unknown_seed_is_reported_and_no_seed_falls_back_to_popular(rec):
    known = rec.catalog["track_id"].iloc[0]
    answer = rec.recommend([known, "spotify:track:0000000000000000000000"], k=5)
    assert answer.unknown_seeds == ["spotify:track:0000000000000000000000"] and answer.fallback is None
    empty = rec.recommend([], k=5)
    assert empty.fallback == "popular" and len(empty.rows) == 5
