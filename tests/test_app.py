"""The Streamlit app through ``streamlit.testing.v1.AppTest``: every page on a fixture artifact in a
temporary models directory, the search → seed → recommend flow, the Spotify login handled by the
entrypoint against the fake Spotify server, and the corrupted-artifact fallback. The chart and
table builders are checked as plain functions."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import streamlit as st
from tests.app_server import app_test
from tests.fake_spotify import FakeSpotify
from tests.fixture_artifacts import XSS_NAME, fixture_catalog, make_fixture_artifact, track_id_of
from streamlit.testing.v1 import AppTest

from recsys.app import charts, navigation, session, streamlit_compat, tables
from recsys.spotify import ids
from recsys.spotify import settings as spotify_settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [page.path for page in navigation.PAGES]
REDIRECT_URI = "http://127.0.0.1:8501/"


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    root = tmp_path / "models"
    make_fixture_artifact(root)
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(root))
    monkeypatch.setenv("RECSYS_OEMBED_URL", "")  # no album art unless a test serves it
    for name in spotify_settings.APP:
        monkeypatch.delenv(name, raising=False)
    return root


def new_app() -> AppTest:
    app = app_test()
    app.secrets["recsys_test"] = "hermetic"  # a secrets dict of its own: no secrets.toml is read
    return app


def visit(app: AppTest, page: str) -> AppTest:
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def plain(text: str) -> str:
    """Markdown-escaped text as the reader sees it."""
    return text.replace("\\", "")


def messages(elements) -> list[str]:
    return [plain(e.value) for e in elements]


def recommended(app: AppTest, local_names=()) -> list[str]:
    """The Recommend page's list, as catalog names in list order (one "Add as seed" per row)."""
    catalog = fixture_catalog(local_names=local_names).set_index("track_id")
    return [catalog.loc[b.key.removeprefix("rec_add_"), "name"] for b in app.button
            if b.key and b.key.startswith("rec_add_")]


def test_every_page_renders_on_the_fixture_model(models_dir):
    app = new_app().run()
    assert not app.exception
    assert app.sidebar.selectbox(key="picked_model").value == "fixture"
    for page in PAGES:
        visit(app, page)
        assert app.title, f"{page} has no title"
    assert not app.error


def test_search_seed_recommend_returns_the_artists_other_tracks_first(models_dir):
    app = visit(new_app().run(), "pages/recommend.py")
    assert any("No seeds yet" in m for m in messages(app.info))
    # The empty state offers the most played tracks (Hyperballad has the highest count).
    assert [b.key for b in app.button][0] == f"popular_pick_{track_id_of('Hyperballad')}"

    app.text_input(key="seed_search_query").input("motorhead ace").run()
    ace = track_id_of("Ace of Spades")
    app.button(key=f"seed_search_pick_{ace}").click().run()
    assert app.session_state["seeds"] == [{"track_id": ace, "name": "Ace of Spades", "artist": "Motörhead"}]

    names = recommended(app)
    assert len(names) == 20
    assert set(names[:2]) == {"Overkill", "Iron Fist"}
    rock = set(fixture_catalog().query("genre == 'rock'")["name"])
    assert set(names[:8]) <= rock and "Ace of Spades" not in names
    captions = [plain(c.value) for c in app.caption]
    assert sum("because you picked Ace of Spades" in c for c in captions) == 20
    first_id = track_id_of(names[0]).split(":")[-1]
    assert f"(https://open.spotify.com/track/{first_id})" in next(c for c in captions if "score" in c)
    assert app.download_button(key="rec_csv")

    app.slider(key="k").set_value(5).run()
    app.number_input(key="max_per_artist").set_value(1).run()
    capped = recommended(app)
    artists = fixture_catalog().set_index("name").loc[capped, "artist"]
    assert len(capped) == 5 and artists.is_unique

    app.button(key=f"remove_{ace}").click().run()
    assert app.session_state["seeds"] == [] and not recommended(app)


def test_data_strings_stay_text(models_dir):
    app = visit(new_app().run(), "pages/recommend.py")
    app.text_input(key="seed_search_query").input("Röyksopp").run()
    assert f"{XSS_NAME} — Röyksopp" in [t.value for t in app.text]
    app.button(key=f"seed_search_pick_{track_id_of('Eple')}").click().run()
    assert XSS_NAME in set(recommended(app)[:2])
    # Markdown elements carry it escaped, so it renders as text, never as HTML.
    assert not [m for m in app.markdown if re.search(r"(?<!\\)<img", m.value)]
    assert any(r"\<img src\=x onerror\=alert\(1\)\>" in m.value for m in app.markdown)


def test_unknown_search_and_unconfigured_login_have_helpful_messages(models_dir):
    app = visit(new_app().run(), "pages/recommend.py")
    app.text_input(key="seed_search_query").input("zzzqqq nothing like it").run()
    assert any("No track matches" in m for m in messages(app.info))

    visit(app, "pages/my_spotify.py")
    # The listener is told plainly; the operator's instructions wait in an expander.
    [info] = messages(app.info)
    assert "isn't available on this deployment" in info and "SPOTIFY" not in info
    [operator] = app.expander
    assert "operator" in operator.label
    assert any("SPOTIFY_CLIENT_ID" in m.value and "localhost" in m.value and "secrets.toml" in m.value
               for m in operator.markdown)
    assert not app.link_button and not app.main.caption  # no privacy note for a login that cannot happen


def test_corrupted_current_version_is_reported_and_another_version_served(models_dir):
    good = make_fixture_artifact(models_dir, version="v1-good", make_current=False)
    broken = make_fixture_artifact(models_dir, version="v2-broken")
    embeddings = broken / "track_embeddings.npy"
    data = bytearray(embeddings.read_bytes())
    data[-5] ^= 0xFF
    embeddings.write_bytes(bytes(data))

    app = new_app().run()
    assert not app.exception
    [error] = messages(app.error)
    assert "fixture / v2-broken" in error and str(embeddings) in error and "sha256" in error
    assert any(good.name in w for w in messages(app.warning))
    assert app.sidebar.selectbox(key="picked_version").value == "v2-broken"  # the pick is kept
    visit(app, "pages/recommend.py")
    app.text_input(key="seed_search_query").input("Jóga").run()
    assert app.button(key=f"seed_search_pick_{track_id_of('Jóga')}")


def test_deeply_nested_manifest_and_report_are_reported_and_good_versions_served(models_dir):
    import hashlib

    good = make_fixture_artifact(models_dir, version="v1-good", make_current=False)
    hostile = make_fixture_artifact(models_dir, version="v2-nested")
    content = ('{"schema_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()
    (hostile / "manifest.json").write_bytes(content)  # with a checksum that matches
    (hostile / "manifest.sha256").write_text(f"{hashlib.sha256(content).hexdigest()}  manifest.json\n")
    (models_dir / "report.json").write_text('{"models": ' + "[" * 100_000 + "]" * 100_000 + "}")
    app = new_app().run()
    assert not app.exception
    assert any("nested too deeply" in m for m in messages(app.error))
    assert any(good.name in w for w in messages(app.warning))
    visit(app, "pages/training.py")
    assert any("report.json: unreadable (JSON nested too deeply)" in m for m in messages(app.error))


def test_switching_version_needs_no_restart(models_dir):
    other = make_fixture_artifact(models_dir, version="0-older", make_current=False, seed=1)
    app = new_app().run()
    current = app.sidebar.selectbox(key="picked_version").value
    assert current != other.name
    app.sidebar.selectbox(key="picked_version").set_value(other.name).run()
    assert not app.exception and not app.error
    assert other.name in [t.value for t in app.text][0]  # Home: "fixture / <version> (created …)"


def test_empty_models_directory_explains_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(tmp_path / "nothing"))
    app = new_app().run()
    for page in PAGES:
        visit(app, page)
    assert any("make models" in m for m in messages(app.info))


# ------------------------------------------------------------------ Spotify login (real HTTP)

def fake_world() -> dict:
    """The fixture catalog as a Spotify world. ``alice`` likes three catalog tracks by id, one by
    name and artist only (another id), and one the catalog lacks; ``bob`` likes other tracks."""
    catalog = fixture_catalog()
    tracks = [{"id": t.split(":")[-1], "name": n, "artist": a, "artist_id": f"art{i}", "album": "A",
               "album_id": f"alb{i}"} for i, (t, n, a) in enumerate(zip(catalog["track_id"], catalog["name"],
                                                                          catalog["artist"]))]
    tracks += [{"id": "hyperballadlive", "name": "Hyperballad", "artist": "Björk", "artist_id": "b",
                "album": "Live", "album_id": "live"},
               {"id": "notinthecatalog", "name": "Unheard Song", "artist": "Nobody", "artist_id": "n",
                "album": "None", "album_id": "none"}]
    ids = {n: t.split(":")[-1] for t, n in zip(catalog["track_id"], catalog["name"])}
    return {"tracks": tracks, "users": {
        "alice": {"display_name": "Alice", "liked": [ids["Ace of Spades"], ids["Overkill"], ids["Jóga"],
                                                     "hyperballadlive", "notinthecatalog"]},
        "bob": {"display_name": "Bob", "liked": [ids["One More Time"]]},
    }}


def xsrf_cookie(token: bytes) -> str:
    """Streamlit's XSRF cookie for a browser holding ``token``, freshly masked as on each reply."""
    mask = os.urandom(4)
    return f"2|{mask.hex()}|{bytes(b ^ mask[i % 4] for i, b in enumerate(token)).hex()}|1700000000"


class Browsers:
    """Which browser the next AppTest runs come from: AppTest sends no cookies, so the cookies a
    browser sends with its websocket (``st.context.cookies``) are supplied here."""

    def __init__(self, monkeypatch):
        self.tokens = {"A": b"A" * 16, "B": b"B" * 16}
        self.current: str | None = "A"
        cookies_of = self.cookies
        monkeypatch.setattr(type(st.context), "cookies", property(lambda _: cookies_of()))

    def cookies(self):
        from streamlit.runtime.context import StreamlitCookies
        if self.current is None:
            return StreamlitCookies({})
        return StreamlitCookies({"_streamlit_xsrf": xsrf_cookie(self.tokens[self.current])})


@pytest.fixture
def browsers(monkeypatch):
    return Browsers(monkeypatch)


@pytest.fixture
def spotify(models_dir, monkeypatch, browsers):
    with FakeSpotify(fake_world(), redirect_uris=[REDIRECT_URI]) as fake:
        for name, value in {**fake.env(), "SPOTIFY_REDIRECT_URI": REDIRECT_URI}.items():
            monkeypatch.setenv(name, value)
        yield fake


def authorize(app: AppTest, fake: FakeSpotify) -> dict:
    """Follow the page's login link to the fake authorize endpoint; return the redirect's query."""
    [link] = app.link_button
    assert link.proto.url.startswith(fake.accounts_base + "/authorize?")
    response = requests.get(link.proto.url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.geturl().startswith(REDIRECT_URI)
    return dict(urllib.parse.parse_qsl(location.query))


def test_login_callback_gives_liked_track_recommendations(spotify):
    app = visit(new_app().run(), "pages/my_spotify.py")
    assert "Log in" in app.link_button[0].value
    assert spotify.requests_to("/authorize") == []
    callback = authorize(app, spotify)

    back = new_app()  # the redirect lands in a new browser session
    back.query_params.update(callback)
    back.run()
    assert not back.exception, back.exception[0].stack_trace if back.exception else ""
    assert back.query_params == {}
    assert any("Logged in to Spotify as Alice" in m for m in messages(back.success))
    assert [t.value for t in back.text][0] == "Logged in as Alice"
    match = back.metric[0]
    assert match.value == "4 of 5"
    assert "Unheard Song" in set(back.dataframe[0].value["name"])
    recommended = back.dataframe[1].value
    assert set(recommended["name"][:2]) == {"Iron Fist", "Army of Me"}
    assert not set(recommended["name"]) & {"Ace of Spades", "Overkill", "Jóga", "Hyperballad"}

    # The same redirect replayed (e.g. by someone who saw the URL) is refused.
    replay = new_app()
    replay.query_params.update(callback)
    replay.run()
    assert any("already used" in m for m in messages(replay.error))
    assert "spotify_token" not in replay.session_state



def test_disconnect_forgets_the_login_and_the_liked_tracks_at_once(spotify):
    alice = log_in(spotify, "alice")
    assert any("**Disconnect** forgets them at once" in c.value for c in alice.caption)  # the note's promise
    assert {"spotify_token", "spotify_profile", "spotify_liked"} <= set(alice.session_state)
    liked_requests = len(spotify.requests_to("/v1/me/tracks"))
    alice.button(key="spotify_disconnect").click().run()
    assert not alice.exception
    for key in ("spotify_token", "spotify_profile", "spotify_liked"):
        assert key not in alice.session_state
    assert alice.link_button[0].value == "Log in with Spotify" and not alice.metric and not alice.dataframe
    alice.run()  # and nothing is fetched again without a new login
    assert len(spotify.requests_to("/v1/me/tracks")) == liked_requests


def test_liked_tracks_match_by_id_then_name_and_the_unmatched_link_to_spotify(spotify):
    alice = log_in(spotify, "alice")
    assert alice.metric[0].value == "4 of 5"
    assert any("3 by Spotify id, 1 by name and artist" in c.value for c in alice.caption)
    [missing] = [e for e in alice.expander if "not in the catalog" in e.label]
    assert missing.label == "Liked tracks not in the catalog (1)"
    unmatched = alice.dataframe[0].value
    assert unmatched["name"].tolist() == ["Unheard Song"] and unmatched["artist"].tolist() == ["Nobody"]
    # "notinthecatalog" is not a 22-character Spotify id, so the link is a search.
    assert unmatched["spotify"][0] == "https://open.spotify.com/search/Unheard%20Song%20Nobody"
    recommended = alice.dataframe[1].value
    assert all(link.startswith("https://open.spotify.com/track/") for link in recommended["spotify"])


def test_a_forged_state_is_rejected(spotify):
    app = new_app()
    app.query_params.update({"code": "stolen", "state": "made-up"})
    app.run()
    assert app.query_params == {}
    assert any("unknown login state" in m for m in messages(app.error))
    assert "spotify_token" not in app.session_state
    assert spotify.requests_to("/api/token") == []


def test_a_callback_opened_in_another_browser_is_refused(spotify, browsers):
    """Login CSRF: bob approves a login for his own account and sends the unopened callback URL
    to alice. Her browser must not be logged in as bob (his liked tracks, his playlists)."""
    spotify.approve_as = "bob"
    browsers.current = "A"  # bob's browser starts the login
    callback = authorize(visit(new_app().run(), "pages/my_spotify.py"), spotify)

    browsers.current = "B"  # alice's browser opens it
    victim = new_app()
    victim.query_params.update(callback)
    victim.run()
    assert any("another browser" in m for m in messages(victim.error))
    assert "spotify_token" not in victim.session_state and "spotify_liked" not in victim.session_state
    assert spotify.requests_to("/api/token") == []
    assert victim.link_button[0].value == "Log in with Spotify"  # she can log in as herself

    browsers.current = "A"  # another tab of the browser that started it
    mine = new_app()
    mine.query_params.update(callback)
    mine.run()
    assert [t.value for t in mine.text][0] == "Logged in as Bob"


def test_without_the_xsrf_cookie_no_login_is_offered(spotify, browsers):
    browsers.current = None
    app = visit(new_app().run(), "pages/my_spotify.py")
    assert not app.link_button
    assert any("XSRF cookie" in m for m in messages(app.error))


def test_pending_logins_and_models_survive_a_cache_clear_and_stay_bounded(spotify):
    """Any websocket client can send ``clear_cache`` (st.cache_data and st.cache_resource are
    cleared for every user): pending logins must survive it, and sessions must not pin a copy
    of the model each."""
    import gc

    from recsys.serving import Recommender

    start = visit(new_app().run(), "pages/my_spotify.py")
    callback = authorize(start, spotify)
    sessions = []
    for _ in range(2 * session.LOADED_ARTIFACTS):
        st.cache_data.clear()
        st.cache_resource.clear()
        sessions.append(visit(new_app().run(), "pages/recommend.py"))
    back = new_app()
    back.query_params.update(callback)
    back.run()
    assert any("Logged in to Spotify as Alice" in m for m in messages(back.success))
    assert sessions[-1].session_state["_served_artifact"] == ("fixture", sessions[-1].sidebar.selectbox(
        key="picked_version").value)
    gc.collect()
    assert sum(type(o) is Recommender for o in gc.get_objects()) <= session.LOADED_ARTIFACTS < len(sessions)


def test_the_callbacks_error_text_is_never_shown(spotify):
    app = new_app()
    app.query_params.update({"error": "access_denied** [click](https://evil.example) " + "x" * 5000,
                             "state": "whatever"})
    app.run()
    [error] = messages(app.error)
    assert "unknown error" in error and "evil" not in error and len(error) < 300
    known = new_app()
    known.query_params.update({"error": "access_denied", "state": "whatever"})
    known.run()
    assert any("you did not allow access" in m for m in messages(known.error))


def test_the_privacy_note_states_how_long_a_closed_tab_is_kept(spotify):
    import tomllib

    ttl = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["disconnectedSessionTTL"]
    assert ttl <= 60
    from streamlit import config
    old = config.get_option("server.disconnectedSessionTTL")
    config.set_option("server.disconnectedSessionTTL", ttl)  # AppTest does not read the project's config.toml
    try:
        app = visit(new_app().run(), "pages/my_spotify.py")
    finally:
        config.set_option("server.disconnectedSessionTTL", old)
    note = app.caption[0].value
    assert f"within {ttl} seconds" in note and "closing the tab" not in note


def test_a_malformed_secrets_file_is_reported(models_dir, tmp_path, monkeypatch):
    from streamlit import config
    from streamlit.runtime.secrets import Secrets

    bad = tmp_path / "secrets.toml"
    bad.write_text('SPOTIFY_CLIENT_ID = "abc\nSPOTIFY_CLIENT_SECRET = "def"\n')
    monkeypatch.setattr(st, "secrets", Secrets())
    old = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(bad)])
    try:
        app = AppTest.from_file(str(ROOT / "pages" / "my_spotify.py")).run()  # reads st.secrets itself
    finally:
        config.set_option("secrets.files", old)
    [error] = messages(app.error)
    assert "misconfigured" in error and "malformed" in error and str(bad) in error
    assert not app.info  # not "login is not configured"


# ------------------------------------------------------------------ plain builders

def test_neighbourhood_points_keep_the_focus_and_fold_rare_artists():
    catalog = fixture_catalog()
    projection = pd.DataFrame({"x": np.arange(len(catalog), dtype=float), "y": 0.0})
    points = charts.neighbourhood_points(catalog, projection, 0, np.array([1, 2, 0]), sample=len(catalog),
                                         color_by="artist", top_artists=2)
    assert points["role"].value_counts().to_dict() == {"catalog": len(catalog) - 3, "neighbour": 2,
                                                       "selected": 1}
    assert points.loc[points["role"] == "selected", "track"].tolist() == ["Ace of Spades"]
    assert points["colour"].nunique() <= 3
    spec = charts.projection_chart(points).to_dict()
    assert any("select" in param for param in spec["params"])  # zoom/pan bound to the scales
    assert {t["field"] for t in spec["layer"][0]["encoding"]["tooltip"]} == {"track", "artist", "genre"}


def test_curves_chart_puts_versions_side_by_side_and_fits_its_container():
    curves = {"a": pd.DataFrame({"epoch": [1, 2], "train_loss": [0.5, 0.4], "val_ndcg@20": [0.1, 0.2]}),
              "b": pd.DataFrame(), "c": pd.DataFrame({"epoch": [1], "train_loss": [0.6]})}
    long = charts.curves_long(curves)
    assert set(long["version"]) == {"a", "c"} and len(long) == 5
    chart = charts.curves_chart(long, "train_loss")
    assert set(chart.data["version"]) == {"a", "c"} and set(chart.data["metric"]) == {"train_loss"}
    spec = chart.to_dict()
    assert spec["width"] == "container"  # no fixed pixel width to overflow a phone
    legend = spec["encoding"]["color"]["legend"]
    assert legend["labelLimit"] == 0 and legend["columns"] == 1  # whole labels, one per line


def test_links_csv_and_escaping():
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    assert tables.spotify_url(uri, "x", "y") == "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"
    assert tables.spotify_url("local:abc", XSS_NAME, "A&B") == (
        "https://open.spotify.com/search/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20A%26B")
    assert ids.embed_url("4uLU6hMCjMI75M1A2tKUQC").endswith("/embed/track/4uLU6hMCjMI75M1A2tKUQC")
    with pytest.raises(ValueError):
        ids.embed_url("javascript:alert(1)")
    escaped = tables.escape_markdown(f"{XSS_NAME} **bold** :red[x] $y$")
    assert "<" not in escaped.replace("\\<", "") and plain(escaped) == f"{XSS_NAME} **bold** :red[x] $y$"
    view = pd.DataFrame({"rank": [1], "track_id": [uri], "name": ['Say "hi", again'], "artist": ["Ä"],
                         "score": [0.5], "because": [uri], "because_name": ["Seed"]})
    csv = tables.to_csv(tables.recommendations_view(view)).decode()
    assert csv.splitlines()[0] == "#,Track,Artist,Score,Because you picked,Spotify,track_id"
    assert '"Say ""hi"", again"' in csv
    assert ",Ä," in csv
    formula = view.assign(name=["=HYPERLINK(\"http://x\")"], artist=["@SUM(A1)"])
    csv = tables.to_csv(tables.recommendations_view(formula)).decode()
    assert "'=HYPERLINK" in csv and ",'@SUM(A1)," in csv


def log_in(spotify: FakeSpotify, user: str) -> AppTest:
    """A session that logged in as ``user`` through the fake Spotify, on its My Spotify page."""
    spotify.approve_as = user
    start = visit(new_app().run(), "pages/my_spotify.py")
    back = new_app()
    back.query_params.update(authorize(start, spotify))
    back.run()
    assert not back.exception, back.exception[0].stack_trace if back.exception else ""
    return back


def test_two_sessions_see_only_their_own_liked_tracks(spotify):
    alice = log_in(spotify, "alice")
    bob = log_in(spotify, "bob")
    assert [t.value for t in bob.text][0] == "Logged in as Bob"
    assert bob.metric[0].value == "1 of 1"
    assert alice.metric[0].value == "4 of 5"
    tokens = [s.session_state["spotify_token"]["access_token"] for s in (alice, bob)]
    assert tokens[0] != tokens[1]
    assert {t["name"] for t in bob.session_state["spotify_liked"]} == {"One More Time"}


def test_an_expired_access_token_is_refreshed(spotify):
    alice = log_in(spotify, "alice")
    old_token = alice.session_state["spotify_token"]["access_token"]
    spotify.expire_access_tokens()
    alice.button(key="spotify_refresh").click().run()
    assert not alice.exception and not alice.error
    assert alice.metric[0].value == "4 of 5"
    assert alice.session_state["spotify_token"]["access_token"] != old_token
    assert spotify.requests_to("/api/token")[-1].form["grant_type"] == "refresh_token"


def test_saving_a_playlist_asks_for_the_permission_then_saves(spotify):
    alice = log_in(spotify, "alice")
    [allow] = [b for b in alice.link_button if b.value == "Allow saving playlists"]
    assert "playlist-modify-private" in urllib.parse.unquote_plus(allow.proto.url)
    response = requests.get(allow.proto.url, allow_redirects=False, timeout=5)
    again = new_app()
    redirect = urllib.parse.urlsplit(response.headers["Location"])
    again.query_params.update(dict(urllib.parse.parse_qsl(redirect.query)))
    again.run()
    recommended = again.dataframe[1].value["track_id"].tolist()
    again.button(key="save_playlist").click().run()
    assert not again.exception and any("Saved" in m for m in messages(again.success))
    [created] = [p for p in spotify.playlists.values()
                 if p["owner"] == "alice" and p["name"].startswith("Continued")]
    assert ["spotify:track:" + t for t in created["tracks"]] == recommended and not created["public"]


def test_the_private_streamlit_flag_still_exists():
    # recsys/app/streamlit_compat.py switches PagesManager.uses_pages_directory off. Were it renamed
    # or gone, a first visit straight to a page URL would again run without the entrypoint (no
    # model picker, no OAuth callback), silently: this test fails first.
    import inspect

    from streamlit.runtime.scriptrunner import script_runner

    assert streamlit_compat.flag_present()
    assert f"PagesManager.{streamlit_compat.FLAG}" in inspect.getsource(script_runner)


def test_the_app_never_imports_torch(models_dir):
    """Every page run in a fresh interpreter: torch (a training-only dependency) stays unloaded."""
    script = f"""
import sys
from tests.app_server import app_test
app = app_test().run()
for page in {PAGES!r}:
    app.switch_page(page).run()
    assert not app.exception, (page, app.exception)
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=ROOT, env={**os.environ, "RECSYS_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_training_page_shows_curves_metrics_and_the_comparison_report(models_dir):
    from recsys.reports import write_report

    result = {"ndcg_at_500": 0.4, "r_precision": 0.2, "clicks": 2.5, "recall_at_100": 0.3, "ndcg_at_k": 0.3,
              "recall_at_k": 0.1, "hit_rate_at_k": 0.8, "precision_at_k": 0.25, "coverage": 0.07,
              "n_queries": 10, "k": 20, "ms_per_query": 0.5}
    write_report({"fixture": {**result, "notes": "tuned on a hand-built graph"},
                  "popularity": {**result, "ndcg_at_500": 0.1}}, models_dir, {"dataset": "fixture"})
    app = visit(new_app().run(), "pages/training.py")
    assert not app.error and not app.info
    assert len(app.get("vega_lite_chart")) == 4 + 1  # one chart per curve, and the comparison bars
    [version] = app.multiselect(key="training_versions").value
    assert version.startswith("fixture / ")
    assert set(app.multiselect(key="training_metrics").value) == {"train_loss", "val_recall@20",
                                                                   "val_ndcg@20", "seconds"}
    assert app.dataframe[0].value.loc[version, "ndcg@20"] == 0.5  # the manifest's final metrics
    assert [t.value for t in app.text][0].startswith("Best by NDCG@500: fixture")
    report = app.dataframe[1].value
    assert report["name"].tolist() == ["fixture", "popularity"] and "ndcg@20" in report.columns
    # Notes are listed under the table, where they wrap, not in a cut-off column.
    assert "notes" not in report.columns
    assert any("**fixture**: tuned on a hand-built graph" in plain(m.value) for m in app.markdown)
    [glossary] = [e for e in app.expander if "mean" in e.label]
    assert all(term in glossary.markdown[0].value for term in ("R-precision", "NDCG", "Clicks", "Coverage"))

    # No version picked: one plain sentence, no empty "Final metrics" heading, no charts.
    app.multiselect(key="training_versions").set_value([]).run()
    assert any("Pick at least one version" in m for m in messages(app.info))
    assert "Final metrics" not in [h.value for h in app.subheader]
    assert not app.dataframe[0].value.empty and len(app.get("vega_lite_chart")) == 1  # the report only


# ------------------------------------------------------------------ Explorer

def charts_on(app: AppTest) -> list[tuple[dict, pd.DataFrame]]:
    """(Vega-Lite spec, data) of each chart on the page."""
    import json

    import pyarrow as pa
    found = []
    for chart in app.get("vega_lite_chart"):
        [dataset] = chart.proto.datasets
        found.append((json.loads(chart.proto.spec),
                      pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()))
    return found


def test_explorer_colours_by_audio_features_and_shows_the_profile_and_neighbour_features(models_dir):
    app = visit(new_app().run(), "pages/explorer.py")
    app.text_input(key="explore_search_query").input("joga").run()
    app.button(key=f"explore_search_pick_{track_id_of('Jóga')}").click().run()
    assert [t.value for t in app.text][0] == "Jóga — Björk"
    [link] = app.link_button
    assert link.proto.url == "https://open.spotify.com/track/" + track_id_of("Jóga").split(":")[-1]
    catalog = fixture_catalog()
    joga = catalog[catalog["name"] == "Jóga"].iloc[0]

    profile = app.dataframe[0].value.set_index("feature")
    assert profile.loc["Energy", "value"] == pytest.approx(joga["energy"])
    assert profile.loc["Tempo", "value"] == pytest.approx(joga["tempo"])
    # Tempo has 20 values (one track lacks it); the percentile counts those at or below this one.
    present = catalog["tempo"].dropna()
    assert profile.loc["Tempo", "percentile"] == pytest.approx(100 * (present <= joga["tempo"]).mean())
    assert "Key" not in profile.index and "Mode" not in profile.index

    neighbours = app.dataframe[1].value
    assert set(neighbours["name"][:2]) == {"Hyperballad", "Army of Me"}
    by_name = catalog.set_index("name")
    expected = by_name.loc[neighbours["name"], "valence"].tolist()
    assert neighbours["valence"].tolist() == pytest.approx(expected)
    first_id = track_id_of(neighbours["name"][0]).split(":")[-1]
    assert neighbours["spotify"][0] == f"https://open.spotify.com/track/{first_id}"

    colours = app.radio(key="explorer_colour")
    assert colours.options == ["genre", "artist", "energy", "valence", "danceability", "tempo"]
    colours.set_value("tempo").run()
    [(spec, points)] = charts_on(app)
    colour = spec["layer"][0]["encoding"]["color"]
    assert colour["condition"]["type"] == "quantitative" and colour["value"] == charts.OTHER_GREY
    tempo = dict(zip(points["track"], points["colour"]))
    assert tempo["Jóga"] == pytest.approx(joga["tempo"]) and np.isnan(tempo["Upgrade U"])


def test_explorer_neighbours_can_become_seeds_or_the_next_track_to_explore(models_dir):
    app = visit(new_app().run(), "pages/explorer.py")
    focus = [t.value for t in app.text][0]  # the most popular track (no pick, no seeds)
    assert focus == "Hyperballad — Björk"
    pick = app.selectbox(key="explorer_act_pick")
    assert pick.options[0] == "Jóga — Björk"
    pick.set_value(track_id_of("Army of Me")).run()
    app.button(key="explorer_act_seed").click().run()
    assert app.session_state["seeds"] == [{"track_id": track_id_of("Army of Me"), "name": "Army of Me",
                                           "artist": "Björk"}]
    assert app.button(key="explorer_act_seed").disabled  # already a seed
    visit(app, "pages/recommend.py")
    assert recommended(app) and "Army of Me" not in recommended(app)

    visit(app, "pages/explorer.py")
    app.selectbox(key="explorer_act_pick").set_value(track_id_of("Jóga")).run()
    app.button(key="explorer_act_more").click().run()
    assert not app.exception
    assert [t.value for t in app.text][0] == "Jóga — Björk"
    assert "Jóga" not in set(app.dataframe[1].value["name"])


def test_explorer_without_audio_features_offers_genre_and_artist_only(tmp_path, monkeypatch):
    root = tmp_path / "models"
    make_fixture_artifact(root, audio_features=False)
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(root))
    app = visit(new_app().run(), "pages/explorer.py")
    assert app.radio(key="explorer_colour").options == ["genre", "artist"]
    [neighbours] = [d.value for d in app.dataframe]  # no profile table
    assert neighbours.columns.tolist() == ["name", "artist", "genre", "score", "spotify", "track_id"]


def _relative_luminance(colour: str) -> float:
    channels = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def _lab(colour: str) -> np.ndarray:
    channels = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    r, g, b = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    xyz = np.array([(0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
                    (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_map_colours_read_on_both_themes_and_are_told_apart():
    colours = [*charts.PALETTE, charts.OTHER_GREY, *charts.FEATURE_RAMP]
    for background in ("#ffffff", "#0e1117"):  # Streamlit's light and dark theme
        for colour in colours:
            high, low = sorted([_relative_luminance(colour), _relative_luminance(background)], reverse=True)
            assert (high + 0.05) / (low + 0.05) >= 3, (colour, background)  # WCAG non-text contrast
    categorical = [*charts.PALETTE, charts.OTHER_GREY]
    closest = min(np.linalg.norm(_lab(a) - _lab(b))
                  for i, a in enumerate(categorical) for b in categorical[i + 1:])
    assert closest >= 25
    assert all(np.hypot(*_lab(c)[1:]) >= 30 for c in charts.PALETTE)  # none of them greyish


def test_artist_colours_are_the_top_ten_plus_a_grey_other_and_neighbours_are_ringed():
    catalog = pd.concat([fixture_catalog()] * 2, ignore_index=True)
    catalog["artist"] = [f"artist {i % 14}" for i in range(len(catalog))]  # 14 artists, 3 each
    catalog["track_id"] = [f"t{i}" for i in range(len(catalog))]
    catalog.loc[:11, "artist"] = "artist 0"  # one clear favourite
    projection = pd.DataFrame({"x": np.arange(len(catalog), dtype=float), "y": 0.0})
    points = charts.neighbourhood_points(catalog, projection, 0, np.array([1, 2]), sample=len(catalog),
                                         color_by="artist")
    assert points["colour"].nunique() == 11 and "artist 0" in set(points["colour"])
    spec = charts.projection_chart(points, color_title="artist").to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale["domain"][-1] == charts.OTHER and scale["range"][-1] == charts.OTHER_GREY
    assert scale["range"][:10] == list(charts.PALETTE) and len(scale["domain"]) == 11
    # The neighbours and the selected track each get a black ring under a white one.
    for role in ("neighbour", "selected"):
        layers = [layer for layer in spec["layer"] if f"'{role}'" in str(layer.get("transform"))]
        strokes = [(layer["mark"].get("stroke"), layer["mark"].get("filled")) for layer in layers]
        assert strokes == [(None, True), ("black", False), ("white", False)], role
    with pytest.raises(ValueError, match="cannot colour the map by 'loudness'"):
        charts.neighbourhood_points(catalog, projection, 0, np.array([1]), color_by="loudness")
