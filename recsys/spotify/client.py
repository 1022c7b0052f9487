"""spotipy clients pointed at configurable endpoints, with retries that respect ``Retry-After``.

Endpoints default to Spotify's own and can be redirected (``SPOTIFY_ACCOUNTS_BASE``,
``SPOTIFY_API_BASE``) to the fake server the tests run on 127.0.0.1.

What spotipy 2.26 does and does not do, and what this module adds:

- ``spotipy.Spotify`` has no ``prefix`` argument: the API base is set on the instance.
- Its own retry session retries POST on 5xx (a retried "create playlist" can create two), gives
  up with ``SpotifyException(429, "Max Retries")`` whatever the status was, and honours a
  ``Retry-After`` of up to six hours. ``build_spotify`` mounts its own urllib3 retry instead:
  429 and 5xx are retried (POST only on 429: the request was refused, not carried out), the
  wait a server asks for is capped, and the last real status is what the caller sees.
- A 401 "The access token expired" is not retried by spotipy; ``Spotify`` below renews the token
  (a new client-credentials token, or a refresh) and repeats the call once.
"""
from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import requests
import spotipy
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOAuth
from spotipy.util import Retry as _SpotipyRetry

from recsys.errors import RecsysError
from recsys.spotify import settings
from recsys.text import album_key, artist_key

DEFAULT_ACCOUNTS_BASE = "https://accounts.spotify.com"
DEFAULT_API_BASE = "https://api.spotify.com/v1"
RETRY_STATUSES = (429, 500, 502, 503, 504)


class SpotifyError(RecsysError):
    """A Spotify call failed in a way the user has to act on; the message says which and why."""


class LoginRequired(SpotifyError):
    """The user's Spotify login is gone (never made, forgotten, or its refresh token revoked)."""


class SpotifyApiError(SpotifyError):
    """The Web API answered an error status (after the retries); ``http_status`` says which."""

    def __init__(self, message: str, http_status: int, path: str):
        super().__init__(message)
        self.http_status = http_status
        self.path = path

    @classmethod
    def from_spotipy(cls, method: str, url: str, exc: spotipy.SpotifyException) -> SpotifyApiError:
        path = urllib.parse.urlsplit(url).path
        detail = str(exc.msg).split("\n", 1)[-1].strip()
        return cls(f"Spotify {method} {path} failed: HTTP {exc.http_status} {detail}".rstrip(),
                   exc.http_status, path)


@dataclass(frozen=True)
class Endpoints:
    """Where the accounts service and the Web API live (no trailing slash)."""

    accounts_base: str = DEFAULT_ACCOUNTS_BASE
    api_base: str = DEFAULT_API_BASE

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object] = os.environ) -> Endpoints:
        """Read ``SPOTIFY_ACCOUNTS_BASE`` / ``SPOTIFY_API_BASE`` (e.g. ``os.environ``, ``st.secrets``)."""
        return cls(
            accounts_base=str(mapping.get(settings.ACCOUNTS_BASE) or DEFAULT_ACCOUNTS_BASE).rstrip("/"),
            api_base=str(mapping.get(settings.API_BASE) or DEFAULT_API_BASE).rstrip("/"),
        )

    @property
    def authorize_url(self) -> str:
        return f"{self.accounts_base}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.accounts_base}/api/token"


class _Retry(_SpotipyRetry):
    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # A 5xx on POST may come after the playlist was created; repeating it would create another.
        if method.upper() == "POST" and status_code != 429:
            return False
        return super().is_retry(method, status_code, has_retry_after)


def retrying_session(retries: int = 4, backoff_factor: float = 0.3,
                     retry_after_max: int = 120) -> requests.Session:
    """A requests session that retries 429/5xx, sleeping ``Retry-After`` (at most
    ``retry_after_max`` seconds) or an exponential backoff, and then returns the last response."""
    retry = _Retry(
        total=retries, connect=retries, read=False, status=retries,
        backoff_factor=backoff_factor, status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST", "PUT", "DELETE"}),
        raise_on_status=False, retry_after_max=retry_after_max,
    )
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Spotify(spotipy.Spotify):
    """``spotipy.Spotify`` whose failures are ``SpotifyError``s with readable messages, and
    which renews a rejected access token once and repeats the call."""

    def _internal_call(self, method, url, payload, params):
        if url.startswith(("http://", "https://")):
            _check_on_api(url, self.prefix)
        try:
            return self._call(method, url, payload, params)
        except SpotifyApiError as exc:
            if exc.http_status != 401 or self.auth_manager is None:
                raise
        renew_access_token(self)
        return self._call(method, url, payload, params)

    def _call(self, method, url, payload, params):
        try:
            # spotipy edits params in place; each attempt gets its own copy.
            return super()._internal_call(method, url, payload, dict(params))
        except spotipy.SpotifyException as exc:
            full_url = url if url.startswith("http") else self.prefix + url
            raise SpotifyApiError.from_spotipy(method, full_url, exc) from exc
        except spotipy.SpotifyOauthError as exc:
            raise _login_error(self.auth_manager, exc) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SpotifyError(f"cannot reach Spotify at {self.prefix}: {exc}") from exc


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _check_on_api(url: str, api_base: str) -> None:
    """Refuse an absolute URL (a paging ``next``/``previous`` link from a reply) that is not under
    the API base: spotipy would send the user's access token to whatever host it names."""
    path, base_path = urllib.parse.urlsplit(url).path, urllib.parse.urlsplit(api_base).path
    if _origin(url) != _origin(api_base) or not path.startswith(base_path):
        shown = url if len(url) <= 200 else url[:200] + "…"
        raise SpotifyError(f"refused to follow a link to {shown!r} from a Spotify reply: it is not under "
                           f"the API base {api_base}, and the access token is sent only there")


def _login_error(manager, exc: spotipy.SpotifyOauthError) -> SpotifyError:
    """Turn a failed token request into the error the user can act on."""
    if exc.error == "invalid_client":
        return SpotifyError(f"Spotify refused the app's client credentials ({exc.error_description or exc}); "
                            "check SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET")
    if isinstance(manager, SpotifyClientCredentials) or exc.error != "invalid_grant":
        return SpotifyError(f"Spotify's accounts service failed to issue a token: {exc}")
    clear = getattr(manager.cache_handler, "clear", None)
    if clear is not None:
        clear()
    return LoginRequired(f"Spotify no longer accepts this login ({exc.error_description or exc.error}); "
                         "log in again")


def renew_access_token(sp: spotipy.Spotify) -> None:
    """Replace the access token the server rejected: a new client-credentials token, or a
    refresh of the user's token. A rejected refresh raises ``LoginRequired``."""
    manager = sp.auth_manager
    try:
        if isinstance(manager, SpotifyClientCredentials):
            manager.get_access_token(as_dict=False, check_cache=False)
        elif isinstance(manager, SpotifyOAuth):
            token = manager.cache_handler.get_cached_token()
            if not token or not token.get("refresh_token"):
                raise LoginRequired("no Spotify login in this session; log in again")
            manager.refresh_access_token(token["refresh_token"])
        else:
            raise SpotifyError(f"cannot renew an access token held by {type(manager).__name__}")
    except spotipy.SpotifyOauthError as exc:
        raise _login_error(manager, exc) from exc


def build_spotify(auth_manager, endpoints: Endpoints, *, session: requests.Session | None = None,
                  timeout: float = 10) -> Spotify:
    """A ``Spotify`` client on ``endpoints`` whose API calls (and, when the auth manager shares
    the same session, token requests) go through ``retrying_session()``."""
    sp = Spotify(auth_manager=auth_manager, requests_session=session or retrying_session(),
                 requests_timeout=timeout)
    sp.prefix = endpoints.api_base + "/"
    return sp


def client_credentials_client(client_id: str, client_secret: str, endpoints: Endpoints | None = None,
                              *, session: requests.Session | None = None, timeout: float = 10) -> Spotify:
    """An app-only client (public data: playlists, tracks). The token lives in memory only."""
    endpoints = endpoints or Endpoints.from_mapping()
    session = session or retrying_session()
    manager = SpotifyClientCredentials(
        client_id, client_secret, requests_session=session, requests_timeout=timeout,
        cache_handler=spotipy.MemoryCacheHandler())
    manager.OAUTH_TOKEN_URL = endpoints.token_url
    return build_spotify(manager, endpoints, session=session, timeout=timeout)


def pages(sp: spotipy.Spotify, first_page: dict | None) -> Iterator[dict]:
    """Yield a paging object and then every page its ``next`` links lead to."""
    page = first_page
    while page:
        yield page
        page = sp.next(page) if page.get("next") else None


def track_row(track: dict | None) -> dict | None:
    """The fields the catalog keeps from a Web API track object; None for a missing entry or a
    non-track item (episode). ``track_id`` is the Spotify URI (``spotify:local:...`` for a
    user's local file, which then can only be matched by name and artist)."""
    if not track or track.get("type", "track") != "track" or not track.get("uri"):
        return None
    artist = (track.get("artists") or [{}])[0]
    album = track.get("album") or {}
    artist_name, album_name = artist.get("name") or "", album.get("name") or ""
    row = {
        "track_id": track["uri"],
        "name": track.get("name") or "",
        "artist": artist_name,
        "album": album_name,
        "artist_id": artist.get("uri") or artist_key(artist_name),
        "album_id": album.get("uri") or album_key(album_name, artist_name),
        "duration_ms": track.get("duration_ms"),
    }
    release = str(album.get("release_date") or "")[:4]
    if release.isdigit():
        row["release_year"] = int(release)
    if track.get("popularity") is not None:  # absent for development-mode apps since Feb 2026
        row["popularity"] = track["popularity"]
    return row
