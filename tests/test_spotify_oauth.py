"""The "My Spotify" login helpers against the fake Spotify on 127.0.0.1: spotipy and requests do
real HTTP; the fake checks client secret, PKCE verifier and single-use codes like Spotify does."""
import base64
import hashlib
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from tests.fake_spotify import FakeSpotify

from recsys.spotify.client import LoginRequired, SpotifyApiError, SpotifyError
from recsys.spotify.library import LIBRARY_SCOPE, SAVE_PLAYLIST_SCOPE, fetch_liked_tracks, save_playlist
from recsys.spotify.oauth import (
    PROFILE_KEY, TOKEN_KEY, OAuthStateError, OAuthStateStore, SpotifyAppConfig, SpotifyConfigError,
    authorize_error_message, browser_binding, complete_login, granted_scopes, login_url, logout, session_client,
)

REDIRECT = "http://127.0.0.1:8501/"
BROWSER = browser_binding("2|0a0b0c0d|" + "5a" * 16 + "|1700000000")  # one browser's XSRF cookie
_browser = threading.Lock()  # the fake approves as one user at a time, like one person at a browser


@pytest.fixture
def config(fake_spotify):
    return SpotifyAppConfig.from_mapping({**fake_spotify.env(), "SPOTIFY_REDIRECT_URI": REDIRECT})


def authorize(fake, url, user="alice") -> dict:
    """What the user's browser does: open the login URL, get redirected back with code and state."""
    with _browser:
        fake.approve_as = user
        reply = requests.get(url, allow_redirects=False, timeout=5)
    assert reply.status_code == 302, reply.text
    location = reply.headers["Location"]
    assert location.startswith(REDIRECT)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def log_in(fake, config, store, session, user="alice", scope=LIBRARY_SCOPE) -> dict:
    back = authorize(fake, login_url(config, store, scope=scope, browser=BROWSER), user)
    return complete_login(config, store, back["code"], back["state"], session, browser=BROWSER)


def test_full_login_flow_keeps_the_token_in_the_session_only(fake_spotify, config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store, session = OAuthStateStore(), {}
    url = login_url(config, store, browser=BROWSER)
    assert url.startswith(fake_spotify.accounts_base + "/authorize?")
    back = authorize(fake_spotify, url)
    sent = fake_spotify.authorizations[-1]
    assert sent["client_id"] == config.client_id and sent["redirect_uri"] == REDIRECT
    assert sent["scope"] == "user-library-read" and sent["code_challenge_method"] == "S256"
    assert back["state"] == sent["state"]

    profile = complete_login(config, store, back["code"], back["state"], session, browser=BROWSER)
    assert profile == {"id": "alice", "display_name": "Alice"}
    assert set(session) == {TOKEN_KEY, PROFILE_KEY} and session[PROFILE_KEY] == profile
    assert granted_scopes(session) == {"user-library-read"}
    (token_request,) = fake_spotify.requests_to("/api/token")
    auth = base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {auth}"
    verifier = token_request.form["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == sent["code_challenge"] and 43 <= len(verifier) <= 128
    assert len(store) == 0

    progress = []
    liked = fetch_liked_tracks(session_client(config, session), progress=lambda *p: progress.append(p))
    assert [t["track_id"] for t in liked] == fake_spotify.liked_uris("alice")
    assert progress == [(50, 75), (75, 75)]
    assert {"track_id", "name", "artist", "album"} <= set(liked[0])
    assert liked[7]["name"] == "<img src=x onerror=alert(1)>"  # kept literally; the app renders it as text
    assert list(tmp_path.iterdir()) == []  # no spotipy .cache file, nor anything else

    logout(session)
    assert session == {} and session_client(config, session) is None


def test_wrong_state_is_rejected_before_any_token_request(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    back = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    with pytest.raises(OAuthStateError, match="unknown login state"):
        complete_login(config, store, back["code"], "forged-state", session, browser=BROWSER)
    with pytest.raises(OAuthStateError):
        complete_login(config, store, back["code"], "", session, browser=BROWSER)
    assert session == {} and fake_spotify.requests_to("/api/token") == []


def test_reused_state_is_rejected_and_the_code_is_single_use(fake_spotify, config):
    store, first, second = OAuthStateStore(), {}, {}
    back = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    complete_login(config, store, back["code"], back["state"], first, browser=BROWSER)
    with pytest.raises(OAuthStateError, match="already used"):
        complete_login(config, store, back["code"], back["state"], second, browser=BROWSER)
    assert second == {}
    replay = requests.post(fake_spotify.accounts_base + "/api/token", timeout=5,
                           auth=(config.client_id, config.client_secret),
                           data={"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_expired_state_is_rejected():
    now = [1000.0]
    store = OAuthStateStore(ttl_seconds=600, clock=lambda: now[0])
    late, in_time = store.issue(browser=BROWSER), store.issue(browser=BROWSER)
    now[0] += 599
    assert store.consume(in_time.state, browser=BROWSER).code_verifier == in_time.code_verifier
    now[0] += 2
    with pytest.raises(OAuthStateError, match="expired"):
        store.consume(late.state, browser=BROWSER)


def test_state_store_hands_each_state_out_once_under_concurrency():
    store = OAuthStateStore()
    states = [store.issue(browser=BROWSER).state for _ in range(200)]

    def grab(state):
        try:
            store.consume(state, browser=BROWSER)
            return 1
        except OAuthStateError:
            return 0
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(grab, states * 4))
    assert sum(wins) == len(states) and len(store) == 0


def test_pkce_verifier_is_checked_by_the_server(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    one = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    other = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    # The state of one login with the code of another: its verifier does not match that challenge.
    with pytest.raises(LoginRequired, match="code_verifier was incorrect"):
        complete_login(config, store, other["code"], one["state"], session, browser=BROWSER)
    assert session == {}
    third = authorize(fake_spotify, login_url(config, store, browser=BROWSER))  # a failed exchange burns its code
    bare = requests.post(fake_spotify.accounts_base + "/api/token", timeout=5,
                         auth=(config.client_id, config.client_secret),
                         data={"grant_type": "authorization_code", "code": third["code"], "redirect_uri": REDIRECT})
    assert bare.status_code == 400 and "code_verifier" in bare.json()["error_description"]


def test_wrong_client_secret_is_refused(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    wrong = SpotifyAppConfig(config.client_id, "not-the-secret", REDIRECT, config.accounts_base, config.api_base)
    back = authorize(fake_spotify, login_url(wrong, store, browser=BROWSER))
    with pytest.raises(LoginRequired, match="invalid_client"):
        complete_login(wrong, store, back["code"], back["state"], session, browser=BROWSER)
    assert session == {}


def test_two_sessions_see_only_their_own_liked_tracks(fake_spotify, config):
    store, alice, bob = OAuthStateStore(), {}, {}
    assert log_in(fake_spotify, config, store, alice, "alice")["id"] == "alice"
    assert log_in(fake_spotify, config, store, bob, "bob")["id"] == "bob"
    assert alice[TOKEN_KEY]["access_token"] != bob[TOKEN_KEY]["access_token"]
    assert [t["track_id"] for t in fetch_liked_tracks(session_client(config, alice))] == fake_spotify.liked_uris("alice")
    assert [t["track_id"] for t in fetch_liked_tracks(session_client(config, bob))] == fake_spotify.liked_uris("bob")
    assert not set(fake_spotify.liked_uris("alice")) & set(fake_spotify.liked_uris("bob"))


def test_concurrent_sessions_never_see_each_others_tracks(fake_spotify, config):
    store = OAuthStateStore()
    expected = {user: fake_spotify.liked_uris(user) for user in ("alice", "bob")}

    def one_user_session(i):
        user, session = ("alice", "bob")[i % 2], {}
        log_in(fake_spotify, config, store, session, user)
        seen = [fetch_liked_tracks(session_client(config, session)) for _ in range(3)]
        return (user, session[PROFILE_KEY]["id"], session[TOKEN_KEY]["access_token"],
                [[t["track_id"] for t in liked] for liked in seen])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one_user_session, range(16)))
    for user, profile_id, _, seen in results:
        assert profile_id == user
        assert all(liked == expected[user] for liked in seen)
    assert len({token for _, _, token, _ in results}) == len(results)


def test_an_expired_access_token_is_refreshed(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    log_in(fake_spotify, config, store, session)
    old = session[TOKEN_KEY]["access_token"]
    session[TOKEN_KEY]["expires_at"] = int(time.time()) - 5  # expired in the session's eyes
    sp = session_client(config, session)
    assert session[TOKEN_KEY]["access_token"] != old
    refresh = [r for r in fake_spotify.requests_to("/api/token") if r.form["grant_type"] == "refresh_token"]
    assert len(refresh) == 1
    # The server expires the new one early: the next call gets 401, refreshes and repeats.
    fake_spotify.expire_access_tokens()
    assert len(fetch_liked_tracks(sp)) == 75
    assert [r.status for r in fake_spotify.requests_to("/v1/me/tracks")][-3:] == [401, 200, 200]
    assert granted_scopes(session) == {"user-library-read"}


def test_short_lived_tokens_are_refreshed_before_they_expire():
    # spotipy treats a token with under 60 s left as expired and refreshes it before the call.
    with FakeSpotify(token_lifetime=30) as fake:
        config = SpotifyAppConfig.from_mapping({**fake.env(), "SPOTIFY_REDIRECT_URI": REDIRECT})
        store, session = OAuthStateStore(), {}
        log_in(fake, config, store, session)
        sp = session_client(config, session)
        assert len(fetch_liked_tracks(sp)) == 75
        grants = [r.form["grant_type"] for r in fake.requests_to("/api/token")]
        assert grants.count("refresh_token") >= 3 and grants[0] == "authorization_code"
        assert all(r.status == 200 for r in fake.requests if r.path.startswith("/v1/"))


def test_a_revoked_refresh_token_sends_the_user_back_to_login(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    log_in(fake_spotify, config, store, session)
    sp = session_client(config, session)
    fake_spotify.revoke_refresh_tokens("alice")
    fake_spotify.expire_access_tokens()
    with pytest.raises(LoginRequired, match="log in again"):
        fetch_liked_tracks(sp)
    assert TOKEN_KEY not in session
    log_in(fake_spotify, config, store, session)
    session[TOKEN_KEY]["expires_at"] = 0
    fake_spotify.revoke_refresh_tokens("alice")
    assert session_client(config, session) is None and session == {}


def test_saving_a_playlist_asks_for_the_extra_scope_only_then(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    log_in(fake_spotify, config, store, session)
    uris = fake_spotify.liked_uris("alice") + fake_spotify.liked_uris("bob") + ["spotify:local:a:b:c:1"]
    with pytest.raises(LoginRequired, match="playlist-modify-private"):
        save_playlist(session_client(config, session), "Recommended", uris)
    assert fake_spotify.requests_to("/v1/me/playlists", "POST") == []

    log_in(fake_spotify, config, store, session, scope=SAVE_PLAYLIST_SCOPE)
    assert fake_spotify.authorizations[-1]["scope"] == "user-library-read playlist-modify-private"
    playlist = save_playlist(session_client(config, session), "Recommended", uris, description="from recsys")
    (create,) = fake_spotify.requests_to("/v1/me/playlists", "POST")
    assert create.json() == {"name": "Recommended", "public": False, "collaborative": False,
                             "description": "from recsys"}
    assert len(fake_spotify.requests_to(f"/v1/playlists/{playlist['id']}/items", "POST")) == 2  # 100 + 5
    stored = fake_spotify.playlists[playlist["id"]]
    assert stored["owner"] == "alice" and not stored["public"]
    assert [f"spotify:track:{t}" for t in stored["tracks"]] == uris[:105]  # the local file skipped


def test_config_from_secrets_or_environment():
    assert SpotifyAppConfig.from_mapping({}) is None
    with pytest.raises(SpotifyConfigError, match="SPOTIFY_CLIENT_SECRET"):
        SpotifyAppConfig.from_mapping({"SPOTIFY_CLIENT_ID": "x", "SPOTIFY_REDIRECT_URI": REDIRECT})
    ok = SpotifyAppConfig.from_mapping({"SPOTIFY_CLIENT_ID": "x", "SPOTIFY_CLIENT_SECRET": "y",
                                        "SPOTIFY_REDIRECT_URI": "https://me.streamlit.app/"})
    assert ok.endpoints.token_url == "https://accounts.spotify.com/api/token"
    assert ok.endpoints.api_base == "https://api.spotify.com/v1"
    for bad, why in [("http://localhost:8501/", "refuses 'localhost'.*127.0.0.1:8501"),
                     ("http://example.com/", "must be https"), ("http://127.0.0.1/", "needs the app's port"),
                     ("ftp://127.0.0.1:21/", "must be https")]:
        with pytest.raises(SpotifyConfigError, match=why):
            SpotifyAppConfig("x", "y", bad)
    SpotifyAppConfig("x", "y", "http://[::1]:8501/callback")


def test_playlist_creation_is_retried_on_429_but_never_repeated_after_a_5xx(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    log_in(fake_spotify, config, store, session, scope=SAVE_PLAYLIST_SCOPE)
    sp = session_client(config, session)
    fake_spotify.fail("/v1/me/playlists", 429, retry_after=0)
    save_playlist(sp, "After a rate limit", fake_spotify.liked_uris("alice")[:3])
    assert [r.status for r in fake_spotify.requests_to("/v1/me/playlists", "POST")] == [429, 201]
    # A 502 may come after the playlist was made: repeating the POST could make a second one.
    fake_spotify.fail("/v1/me/playlists", 502)
    with pytest.raises(SpotifyApiError, match="HTTP 502"):
        save_playlist(sp, "After a server error", fake_spotify.liked_uris("alice")[:3])
    assert [r.status for r in fake_spotify.requests_to("/v1/me/playlists", "POST")] == [429, 201, 502]


# ------------------------------------------------------------------ login CSRF and hostile replies

OTHER_BROWSER = browser_binding("2|01020304|" + "77" * 16 + "|1700000000")


def test_browser_binding_names_the_browser_not_the_masked_cookie():
    token = bytes(range(16))
    masked = [(mask, bytes(b ^ mask[i % 4] for i, b in enumerate(token))) for mask in (b"\1\2\3\4", b"\xff\0\xaa\x55")]
    cookies = [f"2|{mask.hex()}|{value.hex()}|1700000000" for mask, value in masked]
    assert cookies[0] != cookies[1] and browser_binding(cookies[0]) == browser_binding(cookies[1])
    assert browser_binding(f'"{cookies[0]}"') == browser_binding(cookies[0])  # quoted, as some clients send
    assert BROWSER != OTHER_BROWSER and token.hex() not in browser_binding(cookies[0])
    for bad in (None, "", "2|zz|zz|1", "2|01020304|abcd|1", "short", "2|0102|" + "00" * 16 + "|1"):
        assert browser_binding(bad) is None, bad
    with pytest.raises(OAuthStateError, match="XSRF cookie"):
        OAuthStateStore().issue(browser=None)


def test_a_callback_opened_in_another_browser_is_refused(fake_spotify, config):
    """Login CSRF: the attacker approves a login for their own account and sends the unopened
    callback URL to a victim. The victim's browser must not be logged in as the attacker."""
    store, victim, attacker = OAuthStateStore(), {}, {}
    back = authorize(fake_spotify, login_url(config, store, browser=BROWSER), user="bob")
    for other in (OTHER_BROWSER, None):
        with pytest.raises(OAuthStateError, match="another browser"):
            complete_login(config, store, back["code"], back["state"], victim, browser=other)
    assert victim == {} and fake_spotify.requests_to("/api/token") == []
    # The browser that started it can still finish it.
    assert complete_login(config, store, back["code"], back["state"], attacker, browser=BROWSER)["id"] == "bob"


@pytest.mark.parametrize("reply", ["<html>Service Unavailable</html>", ["not", "a", "token"],
                                   {"token_type": "Bearer", "expires_in": 3600},
                                   {"access_token": "x", "expires_in": "soon"}])
def test_a_broken_token_reply_is_a_spotify_error_and_the_login_can_be_retried(fake_spotify, config, reply):
    store, session = OAuthStateStore(), {}
    back = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    fake_spotify.fail("/api/token", 200, body=reply)
    with pytest.raises(SpotifyError, match="log in again") as caught:
        complete_login(config, store, back["code"], back["state"], session, browser=BROWSER)
    assert type(caught.value) in (SpotifyError, LoginRequired) and "Traceback" not in str(caught.value)
    assert session == {}
    assert log_in(fake_spotify, config, store, session)["id"] == "alice"  # a new login works at once


def test_an_unreachable_accounts_service_is_a_spotify_error(fake_spotify, config):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    store, session = OAuthStateStore(), {}
    back = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    gone = SpotifyAppConfig(config.client_id, config.client_secret, REDIRECT, dead, config.api_base)
    with pytest.raises(SpotifyError, match="cannot reach Spotify's accounts service"):
        complete_login(gone, store, back["code"], back["state"], session, browser=BROWSER)
    assert session == {}


def test_a_profile_without_an_id_is_a_spotify_error(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    back = authorize(fake_spotify, login_url(config, store, browser=BROWSER))
    fake_spotify.fail("*", 200, body={"display_name": "Nobody"})  # GET /v1/me/
    with pytest.raises(SpotifyError, match="no user id"):
        complete_login(config, store, back["code"], back["state"], session, browser=BROWSER)
    assert session == {}


def test_authorize_errors_are_told_in_our_words():
    assert "did not allow access" in authorize_error_message("access_denied")
    hostile = "access_denied <script>alert(1)</script> " + "x" * 10_000
    message = authorize_error_message(hostile)
    assert "unknown error" in message and "<script>" not in message and len(message) < 200


def test_paging_links_to_another_host_are_not_followed_with_the_token(fake_spotify, config):
    store, session = OAuthStateStore(), {}
    log_in(fake_spotify, config, store, session)
    with FakeSpotify() as elsewhere:
        fake_spotify.link_base = elsewhere.base_url  # a reply whose `next` names another server
        with pytest.raises(SpotifyError, match="refused to follow a link to 'http://127.0.0.1:"):
            fetch_liked_tracks(session_client(config, session))
        assert elsewhere.requests == []
        fake_spotify.link_base = fake_spotify.base_url + "/v2"  # same host, outside the API base
        with pytest.raises(SpotifyError, match="not under the API base"):
            fetch_liked_tracks(session_client(config, session))
    assert [r.path for r in fake_spotify.requests if r.path.startswith("/v2")] == []
