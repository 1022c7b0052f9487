"""The Recommend page beyond the basic flow (tests/test_app.py): the state in the URL (restored,
hostile links refused politely), tracks without a Spotify id, the one player, clamped inputs, the
cut paste, search paging, and album art from a fake oEmbed server that answers or hangs."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from tests.fake_oembed import FakeOEmbed, thumbnail_of
from tests.fixture_artifacts import make_fixture_artifact, track_id_of
from test_app import ROOT, messages, new_app, plain, visit
from test_app import recommended as recommended_in

from recsys.app import album_art, describe, url_state, widgets

LOCAL = ("Overkill", "Iron Fist")  # tracks ingested without a Spotify id


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    root = tmp_path / "models"
    make_fixture_artifact(root, local_names=LOCAL)
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(root))
    monkeypatch.setenv("RECSYS_OEMBED_URL", "")
    return root


def recommended(app) -> list[str]:
    return recommended_in(app, LOCAL)


def sid(name: str) -> str:
    return track_id_of(name, LOCAL).rsplit(":", 1)[1]


def recommend_page(query: dict | None = None):
    app = new_app()
    app.query_params.update(query or {})
    return visit(app.run(), "pages/recommend.py")


def player_src(app) -> list[str]:
    return [e.proto.src for e in app.get("iframe")]


# ----------------------------------------------------------------- the URL, as plain functions

def test_url_state_round_trips_and_keeps_only_spotify_ids():
    seeds = [track_id_of("Jóga"), track_id_of("Overkill", LOCAL), track_id_of("Eple")]
    params = url_state.to_params(seeds, k=30, diversity=0.3, max_per_artist=2, model="lightgcn")
    assert params == {"seeds": f"{sid('Jóga')},{sid('Eple')}", "k": "30", "diversity": "0.3",
                      "cap": "2", "model": "lightgcn"}
    state = url_state.parse(params)
    assert state.seeds == [track_id_of("Jóga"), track_id_of("Eple")]
    assert (state.k, state.diversity, state.max_per_artist, state.model) == (30, 0.3, 2, "lightgcn")
    assert state.problems == []


@pytest.mark.parametrize("params, problem", [
    ({"seeds": ",".join(["0" * 22] * 5000)}, "more than 50 track ids"),
    ({"seeds": "x" * 10_000_000}, "more than 50 track ids"),
    ({"seeds": ",".join(["1" * 22] * 51)}, "more than 50 track ids"),
    ({"seeds": f"{'1' * 22},<script>,../../etc,{'2' * 23}"},
     "3 of the link's 4 seeds are not a Spotify track id"),
    ({"k": "1e9"}, "k is not a whole number from 5 to 100"),
    ({"k": "-3"}, "k is not a whole number from 5 to 100"),
    ({"cap": "1000"}, "cap is not a whole number from 0 to 100"),
    ({"diversity": "nan"}, "diversity is not a number between 0 and 1"),
    ({"model": "../../etc/passwd"}, "model name is malformed"),
])
def test_hostile_links_are_refused_with_a_reason(params, problem):
    began = time.perf_counter()
    state = url_state.parse(params)
    assert time.perf_counter() - began < 0.05  # a 10 MB parameter is not even split
    assert len(state.problems) == 1 and problem in state.problems[0]
    assert not state.seeds or state.seeds == [f"spotify:track:{'1' * 22}"]
    assert state.k is None and state.max_per_artist is None and state.model is None


# ----------------------------------------------------------------- the page

def test_a_link_restores_seeds_and_controls_and_reports_unknown_ids(models_dir):
    unknown = "Z" * 22
    app = recommend_page({"seeds": f"{sid('Eple')},{unknown},{sid('Jóga')}", "k": "10",
                          "diversity": "0.2", "cap": "2", "model": "fixture"})
    assert [s["name"] for s in app.session_state["seeds"]] == ["Eple", "Jóga"]
    assert any("1 of the link's 3 seeds are not in the catalog" in m for m in messages(app.warning))
    assert app.slider(key="k").value == 10 and app.slider(key="diversity").value == 0.2
    assert app.number_input(key="max_per_artist").value == 2
    assert len(recommended(app)) == 10
    # The page writes its state back: only the known seeds, as a link would need them.
    assert app.query_params["seeds"] == f"{sid('Eple')},{sid('Jóga')}"
    assert app.query_params["k"] == "10" and app.query_params["cap"] == "2"

    app.slider(key="k").set_value(15).run()
    assert app.query_params["k"] == "15"


def test_a_hostile_link_is_refused_politely(models_dir):
    app = recommend_page({"seeds": ",".join(["A" * 22] * 3000), "k": "<script>", "cap": "-1"})
    assert not app.exception and not app.error
    warnings = messages(app.warning)
    assert any("more than 50 track ids" in w for w in warnings)
    assert any("k is not a whole number" in w for w in warnings)
    assert any("cap is not a whole number" in w for w in warnings)
    assert any("No seeds yet" in m for m in messages(app.info))


def test_tracks_without_a_spotify_id_get_a_search_link_and_no_player(models_dir):
    app = recommend_page({"seeds": sid("Ace of Spades")})
    names = recommended(app)
    assert names[:2] == ["Overkill", "Iron Fist"] or names[:2] == ["Iron Fist", "Overkill"]
    overkill = track_id_of("Overkill", LOCAL)
    assert overkill.startswith("local:")
    captions = [c.value for c in app.caption]
    assert any("(https://open.spotify.com/search/Overkill%20Mot%C3%B6rhead)" in c for c in captions)
    assert not [b for b in app.button if b.key == f"rec_play_{overkill}"]
    assert app.button(key=f"rec_add_{overkill}") and app.button(key=f"rec_more_{overkill}")
    # One player, on the first recommendation that has an id (the 3rd here).
    third = recommended(app)[2]
    assert player_src(app) == [f"https://open.spotify.com/embed/track/{sid(third)}"]

    # Play another one, then a seed: still one player.
    app.button(key=f"rec_play_{track_id_of('Jóga', LOCAL)}").click().run()
    assert player_src(app) == [f"https://open.spotify.com/embed/track/{sid('Jóga')}"]
    app.button(key=f"remove_play_{track_id_of('Ace of Spades', LOCAL)}").click().run()
    assert player_src(app) == [f"https://open.spotify.com/embed/track/{sid('Ace of Spades')}"]


def test_add_as_seed_and_more_like_this(models_dir):
    app = recommend_page({"seeds": sid("Eple")})
    joga = track_id_of("Jóga", LOCAL)
    app.button(key=f"rec_add_{joga}").click().run()
    assert [s["name"] for s in app.session_state["seeds"]] == ["Eple", "Jóga"]
    assert app.button(key=f"rec_add_{track_id_of('Hyperballad', LOCAL)}").label == "Add as seed"
    app.button(key=f"rec_more_{track_id_of('Come Together', LOCAL)}").click().run()
    assert [s["name"] for s in app.session_state["seeds"]] == ["Come Together"]
    assert set(recommended(app)[:2]) == {"Something", "Here Comes the Sun"}


def test_artist_cap_defaults_to_2_per_20_and_out_of_range_is_clamped_with_a_note(models_dir):
    app = recommend_page({"seeds": f"{sid('Eple')},{sid('Jóga')}"})
    artists = fixture_artists(recommended(app))
    # Two artists among the seeds: 2 per artist, so the 7 artists of the fixture give 14, not 20.
    assert len(artists) == 14 and artists.value_counts().max() == 2
    assert app.number_input(key="max_per_artist").placeholder == "auto (2)"

    app.number_input(key="max_per_artist").set_value(1000).run()
    assert app.number_input(key="max_per_artist").value == 100
    assert any("1000 was changed to 100" in w for w in messages(app.warning))
    app.number_input(key="max_per_artist").set_value(-3).run()
    assert app.number_input(key="max_per_artist").value == 0
    assert any("-3 was changed to 0" in w for w in messages(app.warning))
    assert fixture_artists(recommended(app)).value_counts().max() == 3  # 0: no limit
    app.run()
    assert not app.warning  # the note is said once

    one_artist = recommend_page({"seeds": f"{sid('Eple')},{sid('Poor Leno')}"})
    assert one_artist.number_input(key="max_per_artist").placeholder == "auto (no limit)"


def fixture_artists(names):
    from tests.fixture_artifacts import fixture_catalog
    return fixture_catalog().set_index("name").loc[names, "artist"]


def test_diversity_notes(models_dir):
    app = recommend_page({"seeds": sid("Eple"), "diversity": "0.0"})
    assert not [c for c in app.caption if "not by score" in c.value] and not app.warning
    app.slider(key="diversity").set_value(0.3).run()
    assert any("ordered for variety, not by score" in plain(c.value) for c in app.caption)
    assert not app.warning
    app.slider(key="diversity").set_value(1.0).run()
    assert any("drifts away from your seeds" in w for w in messages(app.warning))
    assert "cosine similarity" in app.subheader[-1].proto.help  # the score's tooltip


def test_a_long_paste_is_cut_to_the_limit_and_search_pages_on(models_dir, monkeypatch):
    app = recommend_page()
    pasted = "björk " + "x" * 498
    app.text_input(key="seed_search_query").input(pasted).run()
    assert app.text_input(key="seed_search_query").value == pasted[:200]
    assert any("cut to its first 200 characters" in plain(c.value) for c in app.caption)
    monkeypatch.setattr(widgets, "SEARCH_LIMIT", 2)  # the fixture is small: pages of 2
    app.text_input(key="seed_search_query").input("beyonce").run()  # her 3 tracks
    picks = [b for b in app.button if b.key and b.key.startswith("seed_search_pick_")]
    assert len(picks) == 2
    app.button(key="seed_search_more").click().run()
    assert len([b for b in app.button if b.key and b.key.startswith("seed_search_pick_")]) == 3
    assert not [b for b in app.button if b.key == "seed_search_more"]
    # Album and year tell same-named tracks apart.
    assert any(plain(c.value).startswith("B'Day · 20") for c in app.caption)


# ----------------------------------------------------------------- album art

def test_album_art_comes_from_the_oembed_server(models_dir, monkeypatch):
    with FakeOEmbed() as fake:
        monkeypatch.setenv("RECSYS_OEMBED_URL", fake.url)
        app = recommend_page({"seeds": sid("Eple")})
        app.run()  # whatever missed the first run's budget is cached by now
        shown = {image.url for element in app.get("image") for image in element.proto.imgs}
        playable = [n for n in recommended(app) if n not in LOCAL]
        assert {thumbnail_of(sid(n)) for n in playable} <= shown
        asked = "url=https%3A%2F%2Fopen.spotify.com%2Ftrack%2F"
        assert fake.requests and all(asked in r for r in fake.requests)
        before = len(fake.requests)
        app.run()
        assert len(fake.requests) == before  # cached


def test_a_hanging_oembed_server_costs_at_most_the_budget_and_shows_no_error(models_dir, monkeypatch):
    with FakeOEmbed(hang=True, hang_s=3) as fake:
        monkeypatch.setenv("RECSYS_OEMBED_URL", fake.url)
        app = recommend_page({"seeds": sid("Eple")})
        began = time.perf_counter()
        app.run()
        assert time.perf_counter() - began < 1.0
        assert not app.get("image") and not app.error and not app.exception
        assert len(recommended(app)) == 20


def test_album_art_budget_cache_and_bounds():
    with FakeOEmbed(hang=True, hang_s=0.6) as fake:
        art = album_art.AlbumArt(fake.url, entries=3, failure_ttl_s=60, timeout_s=0.3)
        began = time.perf_counter()
        assert art.thumbnails(["a" * 22, "b" * 22], budget_s=0.1) == {}
        assert time.perf_counter() - began < 0.2
        time.sleep(0.5)  # the fetches time out: "no art" is cached, not retried
        assert art.thumbnails(["a" * 22], budget_s=0.1) == {} and len(fake.requests) == 2
    with FakeOEmbed() as fake:
        art = album_art.AlbumArt(fake.url, entries=3, ttl_s=0.2, workers=1)  # one at a time: LRU order
        ids = [c * 22 for c in "abcd"]
        assert art.thumbnails(ids, budget_s=2) == {i: thumbnail_of(i) for i in ids}
        assert len(art._cache) == 3  # bounded: the least recently used went
        art.thumbnails(ids[1:], budget_s=2)
        assert len(fake.requests) == 4
        time.sleep(0.25)
        art.thumbnails(ids[1:], budget_s=2)
        assert len(fake.requests) == 7  # expired after the TTL
    unreachable = album_art.AlbumArt("http://127.0.0.1:9/oembed")
    assert unreachable.thumbnails(["a" * 22], budget_s=1) == {}



# ----------------------------------------------------------------- Home and the model picker

def test_listener_words():
    assert describe.version_label("20261123T171430623Z-85d1e513") == "23 Nov 2026, 17:14 UTC"
    assert describe.version_label("v1-good") == "v1-good"
    assert [describe.significant(v) for v in (0.0982135, 83.0, 0.30409950, 1234.5)] == \
        ["0.0982", "83", "0.304", "1.23e+03"]
    sentence = describe.listener_sentence({"test_hit_rate_at_k": 0.8134, "test_recall_at_k": 0.0982135,
                                           "val_ndcg@20": 0.37})
    assert sentence == ("On playlists it never saw, it finds at least one held-out track in the top 20 "
                        "for 81.3% of playlists and recovers 9.82% of a playlist's held-out tracks in "
                        "its top 20.")
    assert describe.listener_sentence({"best_epoch": 3}) is None
    assert describe.model_description("lightgcn").startswith("LightGCN")


def test_home_speaks_to_listeners_and_keeps_provenance_in_the_expander(models_dir):
    app = visit(new_app().run(), "pages/home.py")
    captions = [plain(c.value) for c in app.caption]
    assert any("recovers 60% of a playlist's held-out tracks in its top 20" in c for c in captions)
    version = app.sidebar.selectbox(key="picked_version").value
    label = describe.version_label(version)
    assert f"fixture / {label}" == app.text[0].value and "UTC" in label
    assert app.sidebar.selectbox(key="picked_version").format_func(version) == label + " (current)"
    assert any("a model trained on playlists" in plain(c.value) for c in app.sidebar.caption)
    [provenance] = app.expander
    main_tables = [d.value for d in app.dataframe if d not in provenance.dataframe]
    assert len(main_tables) == 1  # the held-out figures
    assert all("fingerprint" not in set(t.iloc[:, 0]) for t in main_tables)
    assert "fingerprint" in set(provenance.dataframe[0].value.iloc[:, 0])


def test_the_first_pages_load_no_charting_library(models_dir):
    """Cold start: Home and Recommend (the pages a visit starts on) never import altair (~1 s),
    nor the offline evaluation harness behind the Training page's report (~20 ms)."""
    script = f"""
import sys
from tests.app_server import app_test
app = app_test().run()
app.switch_page("pages/recommend.py").run()
assert not app.exception, app.exception
print("altair" in sys.modules or "recsys.evaluation" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=ROOT, env={**os.environ, "RECSYS_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
