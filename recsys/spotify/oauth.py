"""Spotify login (OAuth) for a multi-user web app: authorization-code flow with the client secret and
PKCE (S256) on top. No Streamlit here; the app passes ``st.secrets`` and ``st.session_state``.

Who holds what:

- ``OAuthStateStore`` (one per server process, shared by all sessions): the pending logins, i.e.
  single-use ``state`` values with their PKCE verifier, expiring after ``ttl_seconds``. The
  redirect back from Spotify lands in a *new* browser session, so the state cannot live in the
  session that started the login. Each state is bound to the *browser* that asked for it
  (``browser_binding``): a callback URL opened in another browser is refused, so nobody can log
  a victim in to the sender's account by sending them an unopened callback link (login CSRF).
  The store holds no tokens.
- The user's session mapping (``st.session_state``): the token, under ``TOKEN_KEY``, through
  ``SessionCacheHandler``. Never a file, never anything shared between sessions.

Typical use::

    config = SpotifyAppConfig.from_mapping(st.secrets)          # None: login not configured
    browser = browser_binding(st.context.cookies.get(XSRF_COOKIE))   # None: cannot bind, no login
    url = login_url(config, store, browser=browser)              # link the user opens top-level
    profile = complete_login(config, store, code, state, st.session_state, browser=browser)
    sp = session_client(config, st.session_state)                # None: not (or no longer) logged in

What a logged-in client then reads or writes (liked tracks, a saved playlist) is in
``recsys.spotify.library``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass

import requests
import spotipy
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOAuth

from recsys.spotify import settings
from recsys.spotify.client import (
    DEFAULT_ACCOUNTS_BASE, DEFAULT_API_BASE, Endpoints, LoginRequired, Spotify, SpotifyApiError, SpotifyError,
    build_spotify, retrying_session,
)
from recsys.spotify.library import LIBRARY_SCOPE

TOKEN_KEY = "spotify_token"
PROFILE_KEY = "spotify_profile"
# Streamlit's XSRF cookie: one random token per browser (every tab sends it), re-masked on each reply.
XSRF_COOKIE = "_streamlit_xsrf"


class SpotifyConfigError(SpotifyError):
    """The Spotify app settings (client id, secret, redirect URI) are incomplete or invalid."""


class OAuthStateError(LoginRequired):
    """The ``state`` coming back from Spotify is unknown, expired, already used, or was issued
    to another browser."""


def browser_binding(xsrf_cookie: str | None) -> str | None:
    """A value that names one browser: the same in all its tabs, different in another browser.

    Derived from the token inside Streamlit's XSRF cookie (``2|mask|masked token|time``; the
    mask changes on every reply, the token does not). Only a hash is kept, so the store never
    holds the token itself. None when the cookie is absent or malformed (XSRF protection off)."""
    value = (xsrf_cookie or "").strip("\"'")
    parts = value.split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
            token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked)) if len(mask) == 4 else b""
        else:
            token = binascii.a2b_hex(value) if len(value) >= 32 else b""  # version 1: plain hex
    except (binascii.Error, ValueError):
        return None
    if len(token) < 16:
        return None
    return hashlib.sha256(b"recsys spotify login binding\0" + token).hexdigest()


def validate_redirect_uri(uri: str) -> str:
    """Return ``uri`` if Spotify accepts it as a redirect URI: https, or a loopback IP literal
    with an explicit port over http (``http://127.0.0.1:8501/``). ``localhost`` is refused."""
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return uri
    if host == "localhost":
        raise SpotifyConfigError(
            f"SPOTIFY_REDIRECT_URI {uri!r}: Spotify refuses 'localhost'; use the loopback address, "
            f"e.g. http://127.0.0.1:{parts.port or 8501}/ (and register exactly that URI)")
    if parts.scheme == "http" and host in ("127.0.0.1", "::1"):
        if parts.port is None:
            raise SpotifyConfigError(
                f"SPOTIFY_REDIRECT_URI {uri!r}: a loopback redirect needs the app's port, "
                "e.g. http://127.0.0.1:8501/")
        return uri
    raise SpotifyConfigError(
        f"SPOTIFY_REDIRECT_URI {uri!r}: must be https://..., or http://127.0.0.1:PORT/ when local")


@dataclass(frozen=True)
class SpotifyAppConfig:
    """A registered Spotify app: its credentials, its redirect URI and the endpoints to use."""

    client_id: str
    client_secret: str
    redirect_uri: str
    accounts_base: str = DEFAULT_ACCOUNTS_BASE
    api_base: str = DEFAULT_API_BASE

    def __post_init__(self):
        validate_redirect_uri(self.redirect_uri)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> SpotifyAppConfig | None:
        """Read ``SPOTIFY_CLIENT_ID``, ``SPOTIFY_CLIENT_SECRET``, ``SPOTIFY_REDIRECT_URI`` and the
        optional ``SPOTIFY_ACCOUNTS_BASE`` / ``SPOTIFY_API_BASE`` from ``st.secrets`` or
        ``os.environ``. None when none of the three is set; ``SpotifyConfigError`` when only
        some are, or the redirect URI is not one Spotify accepts."""
        values = {key: str(mapping.get(key) or "").strip() for key in settings.LOGIN}
        missing = [key for key, value in values.items() if not value]
        if len(missing) == len(settings.LOGIN):
            return None
        if missing:
            raise SpotifyConfigError(f"Spotify login is half configured: {', '.join(missing)} not set")
        endpoints = Endpoints.from_mapping(mapping)
        return cls(client_id=values[settings.CLIENT_ID], client_secret=values[settings.CLIENT_SECRET],
                   redirect_uri=values[settings.REDIRECT_URI],
                   accounts_base=endpoints.accounts_base, api_base=endpoints.api_base)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.accounts_base.rstrip("/"), self.api_base.rstrip("/"))


@dataclass(frozen=True)
class PendingLogin:
    state: str
    code_verifier: str
    scope: str
    issued_at: float
    browser: str  # browser_binding() of the browser that asked for the login


class OAuthStateStore:
    """Server-side, thread-safe store of pending logins: each ``state`` is good once, for
    ``ttl_seconds``. At most ``max_pending`` are kept (the oldest are dropped first), so
    anonymous clicks on "Log in" cannot grow it without bound."""

    def __init__(self, ttl_seconds: float = 600, max_pending: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self._clock = clock
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()
        self._used: OrderedDict[str, float] = OrderedDict()  # consumed states, to say "reused"
        self._lock = threading.Lock()

    def issue(self, scope: str = LIBRARY_SCOPE, *, browser: str) -> PendingLogin:
        """A new pending login with a fresh random state and PKCE verifier, which only
        ``browser`` (a ``browser_binding``) can finish."""
        if not browser:
            raise OAuthStateError("this browser sent no Streamlit XSRF cookie, so a login cannot be "
                                  "bound to it; allow cookies for this site (and keep the server's "
                                  "server.enableXsrfProtection on)")
        pending = PendingLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(64), scope, self._clock(),
                               browser)
        with self._lock:
            self._forget_old()
            self._pending[pending.state] = pending
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
        return pending

    def consume(self, state: str, *, browser: str | None) -> PendingLogin:
        """Take the pending login for ``state`` when ``browser`` is the one it was issued to;
        ``OAuthStateError`` if unknown, expired, reused or another browser's. Another browser's
        attempt leaves the login pending for the browser that started it."""
        with self._lock:
            pending = self._pending.get(state or "")
            if pending is None:
                if state in self._used:
                    raise OAuthStateError("this login link was already used; log in again")
                raise OAuthStateError("unknown login state (not issued by this server, or forgotten "
                                      "after a restart); log in again")
            if not hmac.compare_digest(pending.browser, browser or ""):
                raise OAuthStateError("this login was started in another browser and can only be "
                                      "finished there; log in again from this browser")
            del self._pending[state]
            self._used[state] = self._clock()
            while len(self._used) > self.max_pending:
                self._used.popitem(last=False)
        if self._clock() - pending.issued_at > self.ttl_seconds:
            raise OAuthStateError(f"the login took longer than {self.ttl_seconds:g} s and expired; "
                                  "log in again")
        return pending

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _forget_old(self) -> None:
        # Kept a while past expiry so a late arrival is told "expired", not "unknown".
        horizon = self._clock() - 2 * self.ttl_seconds
        for table in (self._pending, self._used):
            while table:
                first = next(iter(table.values()))
                issued = first.issued_at if isinstance(first, PendingLogin) else first
                if issued >= horizon:
                    break
                table.popitem(last=False)


class SessionCacheHandler(CacheHandler):
    """spotipy token cache over one user's session mapping (``st.session_state``)."""

    def __init__(self, session: MutableMapping, key: str = TOKEN_KEY):
        self.session = session
        self.key = key

    def get_cached_token(self) -> dict | None:
        return self.session.get(self.key)

    def save_token_to_cache(self, token_info: dict) -> None:
        self.session[self.key] = dict(token_info)

    def clear(self) -> None:
        self.session.pop(self.key, None)


class _SessionOAuth(SpotifyOAuth):
    """SpotifyOAuth that never falls back to spotipy's interactive console login (which would
    block a web server on ``input()``): with no usable token it raises ``LoginRequired``."""

    def __init__(self, config: SpotifyAppConfig, session: MutableMapping, scope: str | None,
                 http: requests.Session):
        super().__init__(config.client_id, config.client_secret, config.redirect_uri, scope=scope,
                         cache_handler=SessionCacheHandler(session), open_browser=False,
                         requests_session=http, requests_timeout=10)
        self.OAUTH_AUTHORIZE_URL = config.endpoints.authorize_url
        self.OAUTH_TOKEN_URL = config.endpoints.token_url

    def get_auth_response(self, open_browser=None):
        raise LoginRequired("not logged in to Spotify in this session; log in first")


def _code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def login_url(config: SpotifyAppConfig, store: OAuthStateStore, scope: str = LIBRARY_SCOPE,
              *, browser: str, show_dialog: bool = False) -> str:
    """The Spotify authorize URL for a new login by ``browser`` (a ``browser_binding``); open it
    top-level, not in an iframe."""
    pending = store.issue(scope, browser=browser)
    query = {
        "client_id": config.client_id,
        "response_type": "code",
        "redirect_uri": config.redirect_uri,
        "scope": scope,
        "state": pending.state,
        "code_challenge_method": "S256",
        "code_challenge": _code_challenge(pending.code_verifier),
    }
    if show_dialog:
        query["show_dialog"] = "true"
    return f"{config.endpoints.authorize_url}?{urllib.parse.urlencode(query)}"


def complete_login(config: SpotifyAppConfig, store: OAuthStateStore, code: str, state: str,
                   session: MutableMapping, *, browser: str | None) -> dict:
    """Finish a login from the redirect's ``code`` and ``state`` in ``browser``: check the state
    (single use, issued to this browser), exchange the code with the client secret and the PKCE
    verifier, keep the token in ``session`` only, and return the user's profile
    ``{"id", "display_name"}`` (also kept in ``session[PROFILE_KEY]``). Raises
    ``OAuthStateError``, ``LoginRequired``, or ``SpotifyError`` when the accounts service fails;
    the session is left logged out, so a new login can start at once."""
    pending = store.consume(state, browser=browser)
    token_url = config.endpoints.token_url
    try:
        with retrying_session() as http:
            response = http.post(
                token_url,
                data={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": config.redirect_uri, "code_verifier": pending.code_verifier},
                auth=(config.client_id, config.client_secret), timeout=10)
    except requests.RequestException as exc:
        raise SpotifyError(f"cannot reach Spotify's accounts service at {token_url} "
                           f"({type(exc).__name__}); log in again") from exc
    if response.status_code != 200:
        raise LoginRequired(f"Spotify refused the login ({_oauth_error_text(response)}); log in again")
    token = _token_reply(response)
    token["expires_at"] = int(time.time()) + token["expires_in"]
    # spotipy checks the granted scope against the one it was built with; keep it with the token.
    token["scope"] = token.get("scope") or pending.scope
    logout(session)
    SessionCacheHandler(session).save_token_to_cache(token)
    try:
        me = session_client(config, session).current_user()
    except SpotifyError as exc:
        logout(session)
        if isinstance(exc, SpotifyApiError) and exc.http_status == 403:
            raise LoginRequired(
                "Spotify refused this account: an app in development mode admits only the users "
                "allow-listed in its Developer Dashboard") from exc
        raise
    if not isinstance(me, dict) or not isinstance(me.get("id"), str) or not me["id"]:
        logout(session)
        raise SpotifyError("Spotify's profile reply has no user id; log in again")
    profile = {"id": me["id"], "display_name": str(me.get("display_name") or me["id"])}
    session[PROFILE_KEY] = profile
    return profile


def _token_reply(response) -> dict:
    """The token of a 200 reply from the token endpoint; ``SpotifyError`` when it is not JSON or
    lacks a field the login needs."""
    try:
        token = response.json()
    except ValueError:
        token = None
    if not isinstance(token, dict):
        kind = response.headers.get("Content-Type")
        raise SpotifyError(f"Spotify's accounts service answered the login with something that is not "
                           f"a token (HTTP {response.status_code}, {kind!r}); log in again")
    missing = [k for k in ("access_token", "expires_in") if not token.get(k)]
    if not missing and not isinstance(token["expires_in"], int):
        missing = ["expires_in (as an integer)"]
    if missing:
        raise SpotifyError(f"Spotify's token reply lacks {', '.join(missing)}; log in again")
    return token


def _oauth_error_text(response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    text = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
    return _capped(text or f"HTTP {response.status_code}")


# The ``?error=`` codes of RFC 6749 §4.1.2.1, in our words: the callback's text is never shown.
AUTHORIZE_ERRORS = {
    "access_denied": "you did not allow access (or Spotify refused it)",
    "invalid_request": "Spotify found the login request malformed",
    "unauthorized_client": "this app is not allowed to log users in this way",
    "unsupported_response_type": "Spotify does not support the login request's response type",
    "invalid_scope": "the app asked for a permission Spotify does not know",
    "server_error": "Spotify's login service failed",
    "temporarily_unavailable": "Spotify's login service is busy or down",
}
_MAX_SHOWN = 200  # characters of any text from Spotify put into a message


def _capped(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"


def authorize_error_message(code: str) -> str:
    """What to tell the user when Spotify redirected back with ``?error=code``: our own text
    for the standard codes, "an unknown error" for anything else (never the callback's text)."""
    reason = AUTHORIZE_ERRORS.get(code, "Spotify reported an unknown error")
    return f"Spotify did not grant access: {reason}; log in again"


def session_client(config: SpotifyAppConfig, session: MutableMapping) -> Spotify | None:
    """A client acting for the user logged in to ``session``, or None if there is none. An
    expired access token is refreshed here; a rejected refresh token logs the session out."""
    token = session.get(TOKEN_KEY)
    if not token:
        return None
    http = retrying_session()
    manager = _SessionOAuth(config, session, token.get("scope"), http)
    if manager.is_token_expired(token):
        try:
            manager.refresh_access_token(token["refresh_token"])
        except spotipy.SpotifyOauthError as exc:
            if exc.error != "invalid_grant":
                raise SpotifyError(f"Spotify's accounts service failed to renew the login: {exc}") from exc
            logout(session)
            return None
    return build_spotify(manager, config.endpoints, session=http)


def granted_scopes(session: Mapping) -> frozenset[str]:
    """The scopes the session's login was granted (empty when not logged in)."""
    token = session.get(TOKEN_KEY) or {}
    return frozenset((token.get("scope") or "").split())


def logout(session: MutableMapping) -> None:
    """Forget the session's Spotify login: token and profile."""
    session.pop(TOKEN_KEY, None)
    session.pop(PROFILE_KEY, None)
