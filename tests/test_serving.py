"""Recommender on the hand-built two-genre artifact (tests/fixture_artifacts.py), whose right
answers are known: a track's nearest neighbours are its artist's tracks, then its genre."""
import math
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fixture_artifacts import XSS_NAME, fixture_catalog, make_fixture_artifact, track_id_of
from recsys import Recommender
from recsys.training.artifact_writer import write_artifact
from recsys.serving import RecommendError
from recsys.serving.index import CACHE_DIR

ROOT = Path(__file__).resolve().parents[1]
CATALOG = fixture_catalog()
GENRE = dict(zip(CATALOG["track_id"], CATALOG["genre"]))
ARTIST = dict(zip(CATALOG["track_id"], CATALOG["artist"]))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    make_fixture_artifact(models)
    return models


@pytest.fixture(scope="module")
def rec(models_dir):
    return Recommender.load("fixture", models_dir)


@pytest.fixture(scope="module")
def large_models_dir(tmp_path_factory):
    """12,000 random tracks in 40 clusters (artists), enough for 10,000 seeds and k = 1,000."""
    models = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(0)
    n, artists = 12_000, 40
    artist = rng.integers(0, artists, n)
    centres = rng.normal(size=(artists, 32))
    catalog = pd.DataFrame({"track_id": [f"spotify:track:{i:022d}" for i in range(n)],
                            "name": [f"song {i}" for i in range(n)], "artist": [f"artist {a}" for a in artist],
                            "album": "", "artist_id": [f"a{a}" for a in artist], "n_playlists": rng.integers(1, 50, n)})
    write_artifact(models, "large", embeddings=centres[artist] + 0.6 * rng.normal(size=(n, 32)), catalog=catalog,
            curves=None, config={}, dataset_meta={}, metrics={}, projection=np.zeros((n, 2)))
    return models


def test_seeds_are_never_recommended_and_same_artist_comes_first(rec):
    seed = track_id_of("Ace of Spades")
    result = rec.recommend([seed], k=20)
    ids = result.track_ids
    assert seed not in ids and len(ids) == len(CATALOG) - 1
    assert {ARTIST[t] for t in ids[:2]} == {"Motörhead"}
    genres = [GENRE[t] for t in ids]
    assert genres == sorted(genres, key=lambda g: g != "rock")  # all rock before any electronic
    assert result.table["score"].is_monotonic_decreasing
    assert result.table["rank"].tolist() == list(range(1, 21))
    assert result.unknown_seeds == [] and result.fallback is None


def test_because_names_the_seed_that_contributed_most(rec):
    rock, electronic = track_id_of("Ace of Spades"), track_id_of("Jóga")
    table = rec.recommend([rock, electronic], k=19).table
    for track, because, because_name in zip(table["track_id"], table["because"], table["because_name"]):
        expected = rock if GENRE[track] == "rock" else electronic
        assert because == expected
        assert because_name == CATALOG.set_index("track_id").at[expected, "name"]


def test_unknown_seeds_are_reported_not_dropped_silently(rec):
    result = rec.recommend(["spotify:track:doesnotexist", track_id_of("Eple"), "local:nope"], k=5)
    assert result.unknown_seeds == ["spotify:track:doesnotexist", "local:nope"]
    assert result.fallback is None
    assert {ARTIST[t] for t in result.track_ids[:2]} == {"Röyksopp"}


@pytest.mark.parametrize("seeds", [[], ["spotify:track:unknown"]])
def test_no_known_seed_falls_back_to_popular_tracks_flagged(rec, seeds):
    result = rec.recommend(seeds, k=5, exclude=[CATALOG.sort_values("n_playlists").track_id.iloc[-1]])
    assert result.fallback == "popular"
    assert result.unknown_seeds == seeds
    expected = CATALOG.sort_values("n_playlists", ascending=False)["track_id"].tolist()[1:6]
    assert result.track_ids == expected
    assert result.table["because"].isna().all()


def test_exclude_is_respected(rec):
    seed = track_id_of("Ace of Spades")
    excluded = [track_id_of("Overkill"), track_id_of("Come Together")]
    ids = rec.recommend([seed], k=10, exclude=excluded).track_ids
    assert not set(excluded) & set(ids)
    assert ids[0] == track_id_of("Iron Fist")


def test_max_per_artist_caps_every_artist(rec):
    seeds = [track_id_of("Ace of Spades")]
    one_each = rec.recommend(seeds, k=7, max_per_artist=1).table
    assert one_each["artist"].is_unique and len(one_each) == 7
    two_each = rec.recommend(seeds, k=12, max_per_artist=2).table
    assert two_each["artist"].value_counts().max() == 2
    # The cap drops tracks, it does not reorder the rest.
    uncapped = rec.recommend(seeds, k=20).table
    assert list(one_each["track_id"]) == list(uncapped.drop_duplicates("artist")["track_id"][:7])


def test_diversity_reranks_towards_different_artists(rec, models_dir):
    seeds = [track_id_of("Ace of Spades"), track_id_of("Hoppípolla")]
    plain = rec.recommend(seeds, k=6)
    diverse = rec.recommend(seeds, k=6, diversity=0.5)
    assert plain.track_ids == rec.recommend(seeds, k=6, diversity=0.0).track_ids
    assert diverse.table["artist"].nunique() > plain.table["artist"].nunique()

    def mean_pairwise_similarity(ids):
        rows = CATALOG.index[CATALOG["track_id"].isin(ids)]
        vectors = np.asarray(rec.embeddings[rows], dtype=np.float32)
        sims = vectors @ vectors.T
        return (sims.sum() - np.trace(sims)) / (len(ids) * (len(ids) - 1))

    assert mean_pairwise_similarity(diverse.track_ids) < mean_pairwise_similarity(plain.track_ids)
    capped = rec.recommend(seeds, k=6, diversity=0.5, max_per_artist=1)
    assert capped.table["artist"].is_unique


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "k must be between 1 and 1000"),
    ({"k": 1001}, "k must be between 1 and 1000"),
    ({"k": "5"}, "k must be an integer"),
    ({"k": True}, "k must be an integer"),
    ({"seed_track_ids": "spotify:track:0000000000000000000001"}, "not a single string"),
    ({"seed_track_ids": [1, 2]}, r"seed_track_ids\[0\] must be a track id string"),
    ({"seed_track_ids": ["ok", None]}, r"seed_track_ids\[1\]"),
    ({"seed_track_ids": None}, "must be a list of track ids"),
    ({"exclude": [3.5]}, r"exclude\[0\]"),
    ({"diversity": -0.1}, "diversity must be a number between 0 and 1"),
    ({"diversity": 1.5}, "diversity"),
    ({"diversity": math.nan}, "diversity"),
    ({"diversity": "0.5"}, "diversity"),
    ({"max_per_artist": 0}, "max_per_artist must be at least 1"),
])
def test_malformed_requests_raise_a_clear_error(rec, kwargs, message):
    request = {"seed_track_ids": [track_id_of("Eple")], **kwargs}
    with pytest.raises(RecommendError, match=message):
        rec.recommend(**request)


def test_similar_and_popular(rec):
    table = rec.similar(track_id_of("Digital Love"), k=2)
    assert set(table["name"]) == {"One More Time", "Aerodynamic"}
    assert (table["score"] > 0.8).all()
    with pytest.raises(RecommendError, match="'nope' is not in the catalog"):
        rec.similar("nope")
    popular = rec.popular(3)
    assert popular["n_playlists"].tolist() == sorted(CATALOG["n_playlists"], reverse=True)[:3]


def test_load_default_model_and_names(models_dir):
    rec = Recommender.load(models_dir=models_dir)
    assert rec.model == "fixture" and rec.version == (models_dir / "fixture" / "CURRENT").read_text().strip()
    assert XSS_NAME in rec.catalog["name"].tolist()


def test_ten_thousand_seeds_and_k_1000(large_models_dir):
    rec = Recommender.load("large", large_models_dir)
    seeds = rec.catalog["track_id"].tolist()[:10_000] + ["spotify:track:missing"]
    result = rec.recommend(seeds, k=1000, max_per_artist=100)
    assert len(result.table) == 1000
    assert not set(result.track_ids) & set(seeds)
    assert result.table["artist"].value_counts().max() <= 100
    assert result.unknown_seeds == ["spotify:track:missing"]
    assert result.table["because"].isin(seeds).all()


def test_ivf_index_is_cached_by_checksum_and_agrees_with_exact(large_models_dir):
    exact = Recommender.load("large", large_models_dir)
    ivf = Recommender.load("large", large_models_dir, flat_max_rows=1_000, nprobe=16)
    assert (exact.index.kind, ivf.index.kind) == ("flat", "ivf")
    cached = list((ivf.artifact.path / CACHE_DIR).glob("ivf*.faiss"))
    assert [p.name.split("-", 1)[1] for p in cached] == [f"{ivf.artifact.embeddings_sha256}.faiss"]
    built_at = cached[0].stat().st_mtime_ns
    again = Recommender.load("large", large_models_dir, flat_max_rows=1_000, nprobe=16)
    assert cached[0].stat().st_mtime_ns == built_at  # loaded, not rebuilt
    seeds = exact.catalog["track_id"].tolist()[:5]
    overlap = [len(set(exact.recommend([s], k=100).track_ids) & set(again.recommend([s], k=100).track_ids))
               for s in seeds]
    assert np.mean(overlap) >= 90
    cached[0].write_bytes(b"damaged")  # a damaged cache is rebuilt, not fatal
    rebuilt = Recommender.load("large", large_models_dir, flat_max_rows=1_000, nprobe=16)
    assert rebuilt.index.kind == "ivf" and cached[0].stat().st_size > 1000
    # k beyond what nprobe cells hold still fills the table.
    assert len(ivf.recommend(seeds, k=1000).table) == 1000
    # Probing every cell is an exhaustive search: the exact index's answer.
    assert exact.index.nlist is None and ivf.index.nlist > 16
    query = np.asarray(exact.artifact.embeddings[:3], dtype=np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    everywhere = ivf.index.with_nprobe(ivf.index.nlist)
    assert everywhere.kind == "ivf" and everywhere.ntotal == ivf.index.ntotal
    for q in query:
        assert set(everywhere.search(q, 50).rows) == set(exact.index.search(q, 50).rows)


def test_a_cached_index_of_the_wrong_kind_is_rebuilt(large_models_dir):
    """A flat index with the right rows and dimension under the IVF cache's name, with a sidecar
    that matches: it passes the digest, fails the invariants, and is replaced by the IVF."""
    import hashlib

    import faiss

    ivf = Recommender.load("large", large_models_dir, flat_max_rows=1_000, nprobe=16)
    [cached] = (ivf.artifact.path / CACHE_DIR).glob("ivf*.faiss")
    flat = faiss.IndexFlatIP(ivf.embeddings.shape[1])
    flat.add(np.ascontiguousarray(ivf.embeddings, dtype=np.float32))
    faiss.write_index(flat, str(cached))
    cached.with_name(cached.name + ".sha256").write_text(
        f"{hashlib.sha256(cached.read_bytes()).hexdigest()}  {cached.name}\n")
    again = Recommender.load("large", large_models_dir, flat_max_rows=1_000, nprobe=16)
    assert isinstance(again.index._index, faiss.IndexIVFFlat)
    assert len(again.recommend(ivf.catalog["track_id"].tolist()[:3], k=50).table) == 50
    assert isinstance(faiss.read_index(str(cached)), faiss.IndexIVFFlat)


def test_eight_threads_at_once_give_the_same_results_as_one(rec, large_models_dir):
    large = Recommender.load("large", large_models_dir, flat_max_rows=1_000, nprobe=16)
    ids = CATALOG["track_id"].tolist()
    large_ids = large.catalog["track_id"].tolist()

    def requests(worker):
        out = []
        for i in range(12):
            seeds = [ids[(worker + i) % len(ids)], ids[(3 * i) % len(ids)]]
            out.append(rec.recommend(seeds, k=8, diversity=0.3 * (i % 3), max_per_artist=1 + i % 2).table)
            out.append(large.recommend(large_ids[i * 50:(i + 1) * 50], k=50).table)
            out.append(rec.search(["motorhead", "bjork joga", "daft pnuk"][i % 3]))
            out.append(rec.similar(seeds[0], k=5))
            out.append(rec.match_external([{"name": "hyperballad", "artist": "BJORK"}, {"uri": seeds[1]}]).matched)
        return out

    expected = [requests(w) for w in range(8)]
    start = threading.Barrier(8)

    def run(worker):
        start.wait()
        return requests(worker)

    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(run, range(8)))
    for want, got in zip(expected, concurrent):
        for a, b in zip(want, got):
            pd.testing.assert_frame_equal(a, b)


def test_external_matching_by_uri_then_name_and_artist(rec):
    eple, joga = track_id_of("Eple"), track_id_of("Jóga")
    bare_id = track_id_of("Overkill").rsplit(":", 1)[1]
    tracks = [
        {"uri": eple},
        {"id": bare_id, "name": "whatever", "artist": "whoever"},
        {"url": f"https://open.spotify.com/track/{track_id_of('Something')[14:]}?si=abc123"},
        {"name": "JOGA", "artists": [{"name": "bjork"}]},                 # Spotify API shape
        {"name": "déjà vu", "artists": ["Someone Else", "Beyoncé"]},   # second artist matches
        {"uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC", "name": "Never Gonna Give You Up",
         "artist": "Rick Astley"},
        "not a track",
    ]
    match = rec.match_external(tracks)
    assert match.matched["input_index"].tolist() == [0, 1, 2, 3, 4]
    assert match.matched["matched_by"].tolist() == ["spotify_id"] * 3 + ["name_artist"] * 2
    assert match.track_ids == [eple, track_id_of("Overkill"), track_id_of("Something"), joga,
                               track_id_of("Déjà Vu")]
    assert [u["input_index"] for u in match.unmatched] == [5, 6]
    assert match.match_rate == pytest.approx(5 / 7)
    same = rec.match_external(pd.DataFrame(tracks[:5]))
    assert same.match_rate == 1.0


def test_serving_never_imports_torch(models_dir):
    """Run in a fresh interpreter: other tests in this session import torch."""
    script = f"""
import sys
from recsys import Recommender
rec = Recommender.load("fixture", {str(models_dir)!r})
seeds = rec.catalog["track_id"].tolist()[:3]
rec.recommend(seeds, k=5, diversity=0.3, max_per_artist=1)
rec.recommend([], k=5)
rec.similar(seeds[0], k=3)
rec.search("bjork", 5)
rec.match_external([{{"name": "Eple", "artist": "Royksopp"}}])
heavy = sorted(m for m in ("torch", "torch_geometric", "openTSNE", "sklearn", "streamlit") if m in sys.modules)
print("imported:", heavy)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported: []"
