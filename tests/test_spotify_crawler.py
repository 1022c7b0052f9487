"""The Web API crawler and `python -m recsys ingest spotify` against the fake Spotify on 127.0.0.1:
spotipy does the HTTP; faults (429, 5xx, expired tokens, withdrawn endpoints) are the server's."""
import json
import urllib.parse

import pytest
import requests
from tests.fake_spotify import FakeSpotify

from recsys.cli import main
from recsys.data.dataset import load_dataset
from recsys.spotify.client import Endpoints, SpotifyApiError, client_credentials_client, retrying_session
from recsys.ingest.spotify_crawler import CrawlError, Crawler, CrawlState, playlist_id
from recsys.ingest.spotify import user_client
from recsys.spotify.oauth import OAuthStateStore, SpotifyAppConfig, complete_login, login_url

# Public playlists the demo world's crawl from dpl01 + user carol reaches: dave's two, carol's two.
EXPECTED = {"dpl01": 35, "cpl01": 120, "cpl02": 15, "dpl02": 30}


def app_client(fake, **session_options):
    session = retrying_session(**session_options) if session_options else None
    return client_credentials_client(fake.client_id, fake.client_secret,
                                     Endpoints(fake.accounts_base, fake.api_base), session=session)


def crawl(fake, state_path, *, notices=None, max_playlists=10, **options) -> CrawlState:
    crawler = Crawler(app_client(fake), CrawlState.open(state_path), max_playlists=max_playlists,
                      say=(notices if notices is not None else []).append)
    return crawler.crawl(users=["carol"], playlists=["dpl01"], **options)


def items_fetched(fake, pid):
    return len(fake.requests_to(f"/v1/playlists/{pid}/items", "GET"))


@pytest.fixture
def spotify_env(fake_spotify, monkeypatch):
    for key, value in fake_spotify.env().items():
        monkeypatch.setenv(key, value)
    for key in ("SPOTIFY_REDIRECT_URI", "SPOTIFY_REFRESH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return fake_spotify


def test_cli_crawl_writes_a_loadable_canonical_dataset(spotify_env, tmp_path, capsys, monkeypatch):
    fake, out = spotify_env, tmp_path / "crawl"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    assert main(["ingest", "spotify", "--out", str(out), "--playlist", "spotify:playlist:dpl01",
                 "--user", "carol", "--max-playlists", "10"]) == 0
    ds = load_dataset(out)
    assert ds.meta["source"] == "spotify" and "Developer Policy" in ds.meta["terms"]
    sizes = dict(zip(ds.playlists["playlist_id"], ds.playlists["num_tracks"]))
    assert sizes == {f"spotify:playlist:{pid}": n for pid, n in EXPECTED.items()}  # cpl03 is private
    assert ds.tracks["track_id"].str.startswith("spotify:track:").all()
    first = ds.tracks.set_index("track_id").loc["spotify:track:trk0007"]
    assert (first["name"], first["artist"], first["artist_id"]) == (
        "<img src=x onerror=alert(1)>", "Artist 7", "spotify:artist:art007")
    assert "popularity" not in ds.tracks  # development-mode apps get none
    # 120 tracks came through `next` links, 50 at a time, from today's endpoint only.
    offsets = [r.query["offset"][0] for r in fake.requests_to("/v1/playlists/cpl01/items")]
    assert offsets == ["0", "50", "100"]
    assert not [r for r in fake.requests if r.path.endswith("/tracks") and "/playlists/" in r.path]
    assert (tmp_path / "crawl.crawl.jsonl").is_file()
    assert list(workdir.iterdir()) == []  # no spotipy .cache token file
    assert "4 playlists, 190 tracks" in capsys.readouterr().out
    assert main(["stats", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["playlists"] == 4


def test_rate_limit_and_server_errors_are_survived(fake_spotify, tmp_path):
    fake_spotify.fail("/v1/playlists/cpl01/items", 429, retry_after=1)
    fake_spotify.fail("/v1/playlists/dpl02/items", 503, times=2)
    fake_spotify.fail("/v1/users/dave/playlists", 500)
    state = crawl(fake_spotify, tmp_path / "state.jsonl")
    assert {pid: len(p["tracks"]) for pid, p in state.playlists.items()} == EXPECTED
    limited = fake_spotify.requests_to("/v1/playlists/cpl01/items")
    assert [r.status for r in limited[:2]] == [429, 200]
    assert limited[1].at - limited[0].at >= 0.95  # Retry-After: 1 was honoured
    assert [r.status for r in fake_spotify.requests_to("/v1/playlists/dpl02/items")] == [503, 503, 200]


def test_an_expired_app_token_is_replaced_and_the_call_repeated(fake_spotify, tmp_path):
    app = app_client(fake_spotify)
    state = CrawlState.open(tmp_path / "state.jsonl")
    Crawler(app, state, max_playlists=1, say=print).crawl(playlists=["dpl01"], features=False)
    fake_spotify.expire_access_tokens()
    Crawler(app, state, max_playlists=4, say=print).crawl(users=["carol"], playlists=["dpl01"], features=False)
    assert set(state.playlists) == set(EXPECTED)
    grants = [r.form["grant_type"] for r in fake_spotify.requests_to("/api/token")]
    assert grants == ["client_credentials", "client_credentials"]
    statuses = [r.status for r in fake_spotify.requests if r.path.startswith("/v1/")]
    assert statuses.count(401) == 1 and statuses[statuses.index(401) + 1] == 200


def test_an_interrupted_crawl_resumes_without_refetching(fake_spotify, tmp_path):
    reference = crawl(fake_spotify, tmp_path / "reference.jsonl").rows()
    fake_spotify._requests.clear()

    path = tmp_path / "state.jsonl"
    # Interrupted by the user after two playlists...
    def stop_after_two(done, _):
        if done == 2:
            raise KeyboardInterrupt
    crawler = Crawler(app_client(fake_spotify), CrawlState.open(path), max_playlists=10, say=print,
                      on_playlist=stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        crawler.crawl(users=["carol"], playlists=["dpl01"])
    finished = set(CrawlState.open(path).playlists)
    assert len(finished) == 2
    # ...then by a server failing for longer than the retries last, mid-playlist...
    remaining = [pid for pid in EXPECTED if pid not in finished]
    fake_spotify.fail(f"/v1/playlists/{remaining[0]}/items", 503, times=50)
    crawler = Crawler(app_client(fake_spotify, retries=1, backoff_factor=0), CrawlState.open(path),
                      max_playlists=10, say=print)
    with pytest.raises(SpotifyApiError, match="HTTP 503"):
        crawler.crawl(users=["carol"], playlists=["dpl01"])
    fake_spotify.clear_faults()
    with open(path, "a") as f:
        f.write('{"event": "playlist", "id": "torn')  # ...and a crash in the middle of a write.
    before = {pid: items_fetched(fake_spotify, pid) for pid in EXPECTED}
    state = crawl(fake_spotify, path)
    assert {pid: items_fetched(fake_spotify, pid) - before[pid] for pid in finished} == dict.fromkeys(finished, 0)
    assert state.rows() == reference
    assert path.read_text().endswith("\n") and "torn" not in path.read_text()


def test_withdrawn_audio_features_are_reported_once(fake_spotify, tmp_path):
    notices = []
    state = crawl(fake_spotify, tmp_path / "state.jsonl", notices=notices)
    about_features = [n for n in notices if "audio features" in n]
    assert len(about_features) == 1 and "403" in about_features[0]
    assert len(fake_spotify.requests_to("/v1/audio-features/")) == 1  # 190 tracks, one try
    crawl(fake_spotify, tmp_path / "state.jsonl", notices=notices)  # resumed: not asked again
    assert len(fake_spotify.requests_to("/v1/audio-features/")) == 1
    assert all("danceability" not in row for row in state.rows())


def test_audio_features_are_kept_where_the_app_still_has_them(tmp_path):
    with FakeSpotify(audio_features_status=None) as fake:
        state = crawl(fake, tmp_path / "state.jsonl")
        assert len(fake.requests_to("/v1/audio-features/")) == 2  # 190 tracks, 100 per request
    rows = state.rows()
    assert all(0 <= row["danceability"] <= 1 and row["tempo"] >= 60 for row in rows)


def test_withdrawn_owner_listing_becomes_one_clear_notice(tmp_path):
    notices = []
    with FakeSpotify(withdrawn={"users_playlists"}) as fake:
        state = crawl(fake, tmp_path / "state.jsonl", notices=notices)
        assert len(fake.requests_to("/v1/users/carol/playlists")) == 1
    assert set(state.playlists) == {"dpl01"}
    withdrawn = [n for n in notices if "/users/{id}/playlists" in n]
    assert len(withdrawn) == 1 and "withdrawn" in withdrawn[0] and "--playlist" in withdrawn[0]


def test_missing_and_private_playlists_are_skipped_with_a_reason(fake_spotify, tmp_path):
    notices = []
    state = Crawler(app_client(fake_spotify), CrawlState.open(tmp_path / "s.jsonl"), max_playlists=3,
                    expand_owners=False, say=notices.append).crawl(playlists=["nosuch", "cpl03", "cpl02"],
                                                                   features=False)
    assert set(state.playlists) == {"cpl02"} and state.skipped == {"nosuch": "HTTP 404", "cpl03": "HTTP 404"}
    assert any("nosuch" in n and "not found or private" in n for n in notices)


def test_liked_tracks_and_own_playlists_with_a_user_login(spotify_env, tmp_path, monkeypatch):
    fake = spotify_env
    config = SpotifyAppConfig.from_mapping({**fake.env(), "SPOTIFY_REDIRECT_URI": "http://127.0.0.1:9/"})
    store, session = OAuthStateStore(), {}
    back = requests.get(login_url(config, store, scope="user-library-read playlist-read-private", browser="me"),
                        allow_redirects=False, timeout=5).headers["Location"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    complete_login(config, store, query["code"], query["state"], session, browser="me")
    monkeypatch.setenv("SPOTIFY_REFRESH_TOKEN", session["spotify_token"]["refresh_token"])

    out = tmp_path / "liked"
    assert main(["ingest", "spotify", "--out", str(out), "--liked", "--max-playlists", "5"]) == 0
    ds = load_dataset(out)
    sizes = dict(zip(ds.playlists["name"], ds.playlists["num_tracks"]))
    assert sizes == {"Liked Songs of Alice": 75, "Alice mix": 20}  # "Alice mix" is private: user token
    assert "spotify:user:alice:collection" in set(ds.playlists["playlist_id"])


def test_bad_input_gets_a_clear_error(spotify_env, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "x")
    assert main(["ingest", "spotify", "--out", out]) == 2
    assert "nothing to crawl" in capsys.readouterr().err
    assert main(["ingest", "spotify", "--out", out, "--playlist", "not a playlist!"]) == 2
    assert "'not a playlist!' is not a Spotify playlist id" in capsys.readouterr().err
    assert playlist_id("https://open.spotify.com/playlist/cpl01?si=abc") == "cpl01"
    for hostile in ("https://evil.example/open.spotify.com/playlist/cpl01", "open.spotify.com/intl-"
                    * 5000 + "playlist/cpl01", "x" * 65):
        with pytest.raises(CrawlError, match="is not a Spotify playlist id"):
            playlist_id(hostile)
    state = tmp_path / "state.jsonl"
    state.write_text('{"event": "skipped", "id": "a", "reason": "HTTP 404"}\nnot json\n{}\n')
    assert main(["ingest", "spotify", "--out", out, "--playlist", "cpl01", "--state", str(state)]) == 2
    assert f"{state}:2: not a crawl state line" in capsys.readouterr().err
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")
    assert main(["ingest", "spotify", "--out", out, "--playlist", "cpl01"]) == 2
    assert "SPOTIFY_CLIENT_SECRET" in capsys.readouterr().err
    with pytest.raises(CrawlError, match="at least 1"):
        Crawler(None, CrawlState(state), max_playlists=0)
    assert not (tmp_path / "x").exists()


def test_liked_crawl_with_an_interactive_login(spotify_env, capsys):
    fake = spotify_env
    env = {**fake.env(), "SPOTIFY_REDIRECT_URI": "http://127.0.0.1:9/callback"}

    def paste_back(prompt):  # the user opens the printed link and pastes the address they land on
        link = capsys.readouterr().err.strip().splitlines()[-1]
        return requests.get(link, allow_redirects=False, timeout=5).headers["Location"]

    sp = user_client(env, ask=paste_back)
    assert sp.current_user()["id"] == "alice"
    assert fake.authorizations[-1]["scope"] == "user-library-read playlist-read-private"
    fake.approve_as = None  # the user refuses
    with pytest.raises(CrawlError, match="access_denied"):
        user_client(env, ask=paste_back)
