"""The app's side of Spotify: configuration from ``st.secrets`` or the environment, the
server-wide store of pending logins, the OAuth callback handled by the entrypoint before any page
runs, the per-session client and what the My Spotify page does with it (liked tracks, saving a
playlist), so the page drives no Spotify module itself.

Tokens live only in ``st.session_state`` (``recsys.spotify.oauth`` keeps them in
``state.spotify_store()``). The
``OAuthStateStore`` holds single-use ``state`` values and PKCE verifiers, each bound to the
browser that asked for it (a hash of Streamlit's XSRF cookie), never a token. It is a module
global, not ``st.cache_resource``: any websocket client can send Streamlit's ``clear_cache``
message, which would otherwise void every pending login.

``recsys.spotify.oauth`` and ``recsys.spotify.library`` (spotipy, requests: ~0.3 s to import)
are imported only when a login is under way or the My Spotify page runs, not on every page's
cold start.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from recsys.app import navigation, state
from recsys.errors import RecsysError
from recsys.spotify import ids
from recsys.spotify import settings as spotify_settings

if TYPE_CHECKING:
    from recsys.spotify.client import Spotify
    from recsys.spotify.oauth import OAuthStateStore, SpotifyAppConfig

LOGIN_TTL_SECONDS = 600


def settings() -> dict:
    """The Spotify settings: ``st.secrets`` (top-level keys), overridden by environment variables."""
    try:
        merged = {key: st.secrets[key] for key in spotify_settings.APP if key in st.secrets}
    except FileNotFoundError as exc:  # StreamlitSecretNotFoundError: no file, or one that does not parse
        if exc.__cause__ is not None:
            from recsys.spotify import oauth
            raise oauth.SpotifyConfigError(f"the secrets file is malformed, so the Spotify settings in "
                                           f"it cannot be read: {exc}") from exc
        merged = {}
    merged.update({key: os.environ[key] for key in spotify_settings.APP if os.environ.get(key)})
    return merged


def configured() -> bool:
    """Whether the operator set Spotify login up at all (cheap: imports no Spotify client), so
    the navigation can mark the page when it is off."""
    return any(str(settings().get(key) or "").strip() for key in spotify_settings.LOGIN)


def config() -> SpotifyAppConfig | None:
    """The app's Spotify configuration; None when login is not configured at all.
    Raises ``SpotifyConfigError`` when it is configured wrongly (or secrets.toml is malformed)."""
    from recsys.spotify import oauth
    return oauth.SpotifyAppConfig.from_mapping(settings())


_store: OAuthStateStore | None = None
_store_lock = threading.Lock()


def state_store() -> OAuthStateStore:
    """Pending logins of every session of this server process (no tokens)."""
    global _store
    with _store_lock:
        if _store is None:
            from recsys.spotify import oauth
            _store = oauth.OAuthStateStore(ttl_seconds=LOGIN_TTL_SECONDS)
        return _store


def browser() -> str | None:
    """This browser's binding for logins (``oauth.browser_binding`` of its XSRF cookie)."""
    from recsys.spotify import oauth
    return oauth.browser_binding(st.context.cookies.get(oauth.XSRF_COOKIE))


def login_link(app_config: SpotifyAppConfig, scope: str | None = None) -> str:
    """The authorize URL for this session (scope: ``user-library-read`` unless given), issued
    once and re-issued before its state expires (so reruns do not fill the store). Only this
    browser can finish it; ``OAuthStateError`` when the browser sent no XSRF cookie."""
    from recsys.spotify import library, oauth
    scope = scope or library.LIBRARY_SCOPE
    link = state.login_link()
    if (link is None or link["scope"] != scope
            or time.monotonic() - link["issued"] > LOGIN_TTL_SECONDS / 2):
        link = {"url": oauth.login_url(app_config, state_store(), scope, browser=browser()), "scope": scope,
                "issued": time.monotonic()}
        state.set_login_link(link)
    return link["url"]


def handle_callback() -> None:
    """Finish a login when Spotify redirected here with ``?code=&state=`` (or ``?error=``):
    clear the query string, check the state (single use, unexpired), keep the token in this
    session, and go to the My Spotify page, which shows the outcome. Call before any page runs."""
    params = st.query_params
    if not {"code", "state", "error"} & set(params.keys()):
        return
    from recsys.spotify import oauth
    code, login_state, error = params.get("code"), params.get("state"), params.get("error")
    st.query_params.clear()
    try:
        app_config = config()
        if app_config is None:
            raise oauth.SpotifyConfigError("Spotify login is not configured on this server")
        if error:
            raise oauth.LoginRequired(oauth.authorize_error_message(error))
        profile = oauth.complete_login(app_config, state_store(), code or "", login_state or "",
                                       state.spotify_store(), browser=browser())
    except RecsysError as exc:
        state.set_login_notice("error", f"Login failed: {exc}")
    else:
        state.forget_spotify()  # a new login may be another user's
        state.set_login_notice("success", f"Logged in to Spotify as {profile['display_name']}.")
    st.switch_page(navigation.MY_SPOTIFY.path)


def privacy_note() -> str:
    """The My Spotify page's privacy promise, with the time the server keeps a closed tab's
    session (``server.disconnectedSessionTTL``, set low in .streamlit/config.toml)."""
    ttl = int(st.get_option("server.disconnectedSessionTTL"))
    return ("Privacy: your Spotify login and liked tracks are kept only in this browser session's "
            "memory on the server — never written to disk, never shared with other users, never "
            "used for training. **Disconnect** forgets them at once; after you close the tab the "
            f"server forgets them within {ttl} seconds. The app asks to read your liked tracks; saving a "
            "playlist asks separately for permission to create private playlists.")


def pop_notice() -> tuple[str, str] | None:
    """The outcome of the last login attempt, once: ("success" | "error", plain text)."""
    return state.pop_login_notice()


def disconnect() -> None:
    """Forget this session's Spotify login and everything fetched with it."""
    from recsys.spotify import oauth
    oauth.logout(state.spotify_store())
    state.forget_spotify()


def client(app_config: SpotifyAppConfig) -> Spotify | None:
    """A client for this session's logged-in user; None when there is none (a login that ended,
    e.g. its refresh token revoked, takes the fetched liked tracks along)."""
    from recsys.spotify import oauth
    sp = oauth.session_client(app_config, state.spotify_store())
    if sp is None:
        state.forget_liked()
    return sp


def display_name() -> str:
    from recsys.spotify import oauth
    return (state.spotify_store().get(oauth.PROFILE_KEY) or {}).get("display_name", "a Spotify user")


def fetched_liked() -> list[dict] | None:
    """The liked tracks this session fetched; None until ``fetch_liked`` (again after ``refresh_liked``)."""
    return state.liked()


def fetch_liked(sp: Spotify, progress: Callable[[int, int], None]) -> list[dict]:
    """Fetch the user's liked tracks (``progress(done, total)`` after each page) and keep them
    for this session."""
    from recsys.spotify import library
    liked = library.fetch_liked_tracks(sp, progress=progress)
    state.set_liked(liked)
    return liked


def refresh_liked() -> None:
    state.forget_liked()


def saveable(track_ids) -> list[str]:
    """The ids Spotify can add to a playlist: its track URIs (tracks ingested without one have a
    local key)."""
    return [t for t in track_ids if ids.is_track_uri(t)]


def can_save_playlists() -> bool:
    """Whether this session's login granted the permission to create a private playlist."""
    from recsys.spotify import library, oauth
    return library.PLAYLIST_SCOPE in oauth.granted_scopes(state.spotify_store())


def save_permission_link(app_config: SpotifyAppConfig) -> str:
    """A login link that asks for the permission ``save_playlist`` needs besides the library's."""
    from recsys.spotify import library
    return login_link(app_config, library.SAVE_PLAYLIST_SCOPE)


def save_playlist(sp: Spotify, name: str, track_uris: list[str]) -> str:
    """Create a private playlist of ``track_uris`` in the user's library; its Spotify link."""
    from recsys.spotify import library
    playlist = library.save_playlist(sp, name, track_uris, description="Made by the playlist-continuation app")
    return ids.playlist_url(playlist["id"])
