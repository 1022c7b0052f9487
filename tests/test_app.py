"""The Streamlit app through ``streamlit.testing.v1.AppTest``: every page on a fixture artifact in a
temporary models directory, the search → seed → recommend flow, the Spotify login handled by the
entrypoint against the fake Spotify server, and the corrupted-artifact fallback. The chart and
table builders are checked as plain functions."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import streamlit as st
from app_server import app_test
from fake_spotify import FakeSpotify
from fixture_artifacts import XSS_NAME, fixture_catalog, make_fixture_artifact, track_id_of
from streamlit.testing.v1 import AppTest

from recsys.app import charts, session, tables

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["pages/home.py", "pages/recommend.py", "pages/my_spotify.py", "pages/explorer.py",
         "pages/training.py"]
SPOTIFY_SETTINGS = ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_REDIRECT_URI",
                    "SPOTIFY_ACCOUNTS_BASE", "SPOTIFY_API_BASE")
REDIRECT_URI = "http://127.0.0.1:8501/"


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    root = tmp_path / "models"
    make_fixture_artifact(root)
    monkeypatch.setenv("RECSYS_MODELS_DIR", str(root))
    for name in SPOTIFY_SETTINGS:
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

    table = app.dataframe[0].value
    assert len(table) == 20
    assert set(table["name"][:2]) == {"Overkill", "Iron Fist"}
    rock = set(fixture_catalog().query("genre == 'rock'")["name"])
    assert set(table["name"][:8]) <= rock and "Ace of Spades" not in set(table["name"])
    assert set(table["because_name"]) == {"Ace of Spades"}
    first_id = track_id_of(table["name"][0]).split(":")[-1]
    assert table["spotify"][0] == f"https://open.spotify.com/track/{first_id}"
    assert app.download_button(key="recommend_csv")

    app.slider(key="k").set_value(5).run()
    app.number_input(key="max_per_artist").set_value(1).run()
    capped = app.dataframe[0].value
    assert len(capped) == 5 and capped["artist"].is_unique

    app.button(key=f"remove_{ace}").click().run()
    assert app.session_state["seeds"] == [] and not app.dataframe


def test_data_strings_stay_text(models_dir):
    app = visit(new_app().run(), "pages/recommend.py")
    app.text_input(key="seed_search_query").input("Röyksopp").run()
    assert f"{XSS_NAME} — Röyksopp" in [t.value for t in app.text]
    app.button(key=f"seed_search_pick_{track_id_of('Eple')}").click().run()
    assert XSS_NAME in set(app.dataframe[0].value["name"][:2])
    # Nothing on the page renders it as markdown or HTML.
    assert not [m for m in app.markdown if "<img" in m.value]


def test_unknown_search_and_unconfigured_login_have_helpful_messages(models_dir):
    app = visit(new_app().run(), "pages/recommend.py")
    app.text_input(key="seed_search_query").input("zzzqqq nothing like it").run()
    assert any("No track matches" in m for m in messages(app.info))

    visit(app, "pages/my_spotify.py")
    [info] = messages(app.info)
    assert "not configured" in info and "SPOTIFY_CLIENT_ID" in info and "localhost" in info
    assert not app.link_button


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
    assert not back.exception
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

    back.button(key="spotify_disconnect").click().run()
    assert "spotify_token" not in back.session_state and "spotify_liked" not in back.session_state
    assert back.link_button[0].value == "Log in with Spotify"


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


def test_curves_chart_puts_versions_side_by_side():
    curves = {"a": pd.DataFrame({"epoch": [1, 2], "train_loss": [0.5, 0.4], "val_ndcg@20": [0.1, 0.2]}),
              "b": pd.DataFrame(), "c": pd.DataFrame({"epoch": [1], "train_loss": [0.6]})}
    long = charts.curves_long(curves)
    assert set(long["version"]) == {"a", "c"} and len(long) == 5
    spec = charts.curves_chart(long, ["train_loss", "val_ndcg@20"]).to_dict()
    assert spec["facet"]["field"] == "metric"


def test_links_csv_and_escaping():
    uri = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"
    assert tables.spotify_url(uri, "x", "y") == "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"
    assert tables.spotify_url("local:abc", XSS_NAME, "A&B") == (
        "https://open.spotify.com/search/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20A%26B")
    assert tables.embed_url("4uLU6hMCjMI75M1A2tKUQC").endswith("/embed/track/4uLU6hMCjMI75M1A2tKUQC")
    with pytest.raises(ValueError):
        tables.embed_url("javascript:alert(1)")
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
    assert not back.exception
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


def test_the_app_never_imports_torch(models_dir):
    """Every page run in a fresh interpreter: torch (a training-only dependency) stays unloaded."""
    script = f"""
import sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from app_server import app_test
app = app_test().run()
for page in {PAGES!r}:
    app.switch_page(page).run()
    assert not app.exception, (page, app.exception)
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RECSYS_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_training_page_shows_curves_metrics_and_the_comparison_report(models_dir):
    from recsys.evaluation import write_report

    result = {"r_precision": 0.2, "ndcg_at_k": 0.3, "recall_at_k": 0.1, "hit_rate_at_k": 0.8,
              "precision_at_k": 0.25, "clicks": 2.5, "coverage": 0.07, "n_queries": 10, "k": 20,
              "ms_per_query": 0.5}
    write_report({"fixture": result, "popularity": {**result, "ndcg_at_k": 0.1}}, models_dir,
                 {"dataset": "fixture"})
    app = visit(new_app().run(), "pages/training.py")
    assert not app.error and not app.info
    [version] = app.multiselect(key="training_versions").value
    assert version.startswith("fixture / ")
    assert set(app.multiselect(key="training_metrics").value) == {"train_loss", "val_recall@20",
                                                                   "val_ndcg@20", "seconds"}
    assert app.dataframe[0].value.loc[version, "ndcg@20"] == 0.5  # the manifest's final metrics
    assert [t.value for t in app.text][0].startswith("Best by NDCG@20: fixture")
    report = app.dataframe[1].value
    assert report["name"].tolist() == ["fixture", "popularity"] and "ndcg@20" in report.columns
