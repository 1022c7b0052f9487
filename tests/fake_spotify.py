"""A fake Spotify (accounts service + Web API) on 127.0.0.1, for tests that let spotipy do real HTTP.

In-process::

    with FakeSpotify() as fake:                      # random free port, served from a thread
        fake.accounts_base, fake.api_base            # point SPOTIFY_ACCOUNTS_BASE / _API_BASE here
        fake.fail("/v1/playlists/cpl01/items", 429, times=1, retry_after=1)
        fake.requests_to("/v1/me/tracks")            # what the client actually sent

Standalone (the browser tests start the app in a subprocess that talks to it)::

    python tests/fake_spotify.py --port 8765 [--data data.json] [--approve-as alice]

It prints ``ready <base url>`` once listening. A running server is steered over HTTP under
``/_fake/``: ``POST /_fake/approve_as {"user": "bob"}``, ``POST /_fake/fail {"path", "status",
"times", "retry_after", "message"}``, ``POST /_fake/expire_access_tokens``,
``POST /_fake/revoke_refresh_tokens``, ``GET /_fake/requests``.

What it implements, with the JSON shapes of the real service:

- ``GET /authorize``: checks client id, redirect URI and scope, records the request (and a PKCE
  challenge), then approves at once as ``approve_as`` and redirects to
  ``redirect_uri?code=..&state=..`` (or ``?error=access_denied`` when ``approve_as`` is None).
- ``POST /api/token``: ``authorization_code`` (client secret by Basic auth, or a public client
  with PKCE; the verifier is checked when a challenge was sent; codes are single-use and expire),
  ``refresh_token``, ``client_credentials``. Access tokens live ``token_lifetime`` seconds.
- ``/v1/me``, ``/v1/me/tracks``, ``/v1/me/playlists``, ``/v1/users/{id}/playlists``,
  ``/v1/playlists/{id}``, ``/v1/playlists/{id}/items``, ``/v1/audio-features`` (403 by default, as
  for apps registered after November 2024), ``POST /v1/me/playlists``,
  ``POST /v1/users/{id}/playlists``, ``POST /v1/playlists/{id}/items``. The pre-2026
  ``/v1/playlists/{id}/tracks`` answers 403, as it does for development-mode apps; endpoints named
  in ``withdrawn`` answer 403 too. Paging objects carry ``items, next, previous, total, limit,
  offset, href`` with absolute ``next`` links back to this server.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
XSS_NAME = "<img src=x onerror=alert(1)>"
_ID_RE = r"([0-9A-Za-z]+)"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    @property
    def form(self) -> dict:
        return dict(urllib.parse.parse_qsl(self.body.decode()))

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: int | None
    message: str | None
    body: object = None  # sent instead of the error object (a str as text/plain)


@dataclass
class _Token:
    user: str | None  # None: a client-credentials (app) token
    scope: str
    expires_at: float
    refresh_token: str | None = None


@dataclass
class _Grant:
    user: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    expires_at: float
    used: bool = False


class _Reply(Exception):
    def __init__(self, status: int, body=None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def demo_data() -> dict:
    """A small deterministic world: 240 tracks by 24 artists; ``alice`` likes 75 tracks (two
    pages of 50, one of them named like an HTML injection), ``bob`` likes 30 others; ``carol``
    and ``dave`` own public playlists (one of 120 tracks, three pages of 50) and a private one."""
    tracks = []
    for n in range(240):
        artist, album = n % 24, n % 48
        tracks.append({
            "id": f"trk{n:04d}", "name": XSS_NAME if n == 7 else f"Song {n}",
            "artist_id": f"art{artist:03d}", "artist": f"Artist {artist}",
            "album_id": f"alb{album:03d}", "album": f"Album {album}",
            "release_date": f"{1990 + n % 30}-01-01", "duration_ms": 180_000 + 1000 * n,
        })
    ids = [t["id"] for t in tracks]
    return {
        "tracks": tracks,
        "users": {
            "alice": {"display_name": "Alice", "liked": ids[0:75], "playlists": [
                {"id": "apl01", "name": "Alice mix", "public": False, "tracks": ids[0:20]}]},
            "bob": {"display_name": "Bob", "liked": ids[100:130], "playlists": []},
            "carol": {"display_name": "Carol", "liked": [], "playlists": [
                {"id": "cpl01", "name": "Carol long", "public": True, "tracks": ids[0:120]},
                {"id": "cpl02", "name": "Carol short", "public": True, "tracks": ids[120:135]},
                {"id": "cpl03", "name": "Carol secret", "public": False, "tracks": ids[200:210]}]},
            "dave": {"display_name": "Dave", "liked": [], "playlists": [
                {"id": "dpl01", "name": "Dave one", "public": True, "tracks": ids[130:160] + ids[0:5]},
                {"id": "dpl02", "name": "Dave two", "public": True, "tracks": ids[160:190]}]},
        },
    }


class FakeSpotify:
    """The fake service; see the module docstring. ``data`` is a world shaped like
    ``demo_data()``: ``{"tracks": [{id, name, artist, artist_id, album, album_id[, release_date,
    duration_ms]}], "users": {user_id: {display_name, liked: [track ids], playlists: [{id, name,
    public, tracks: [track ids]}]}}}``. Attributes tests may change while it runs:
    ``approve_as`` (who /authorize logs in), ``token_lifetime``, ``audio_features_status``
    (None serves them), ``withdrawn`` (endpoint names answering 403: ``users_playlists``,
    ``create_user_playlist``, ``me_playlists``), ``redirect_uris`` (None accepts any),
    ``link_base`` (where paging ``next`` links point; None: this server)."""

    def __init__(self, data: dict | None = None, *, port: int = 0, client_id: str = CLIENT_ID,
                 client_secret: str = CLIENT_SECRET, approve_as: str | None = "alice",
                 token_lifetime: int = 3600, code_lifetime: int = 60,
                 audio_features_status: int | None = 403, redirect_uris: list[str] | None = None,
                 withdrawn: set[str] | None = None):
        self.client_id, self.client_secret = client_id, client_secret
        self.approve_as = approve_as
        self.token_lifetime, self.code_lifetime = token_lifetime, code_lifetime
        self.audio_features_status = audio_features_status
        self.redirect_uris = redirect_uris
        self.withdrawn = set(withdrawn or ())
        self.link_base: str | None = None  # another server's base for paging links (a hostile reply)
        self.authorizations: list[dict] = []
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: dict[str, _Fault] = {}
        self._tokens: dict[str, _Token] = {}
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token -> (user, scope)
        self._grants: dict[str, _Grant] = {}
        self._load(data or demo_data())
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- life cycle
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accounts_base(self) -> str:
        return self.base_url

    @property
    def api_base(self) -> str:
        return self.base_url + "/v1"

    def env(self) -> dict[str, str]:
        """Settings that point recsys.spotify at this server with its client credentials."""
        return {"SPOTIFY_ACCOUNTS_BASE": self.accounts_base, "SPOTIFY_API_BASE": self.api_base,
                "SPOTIFY_CLIENT_ID": self.client_id, "SPOTIFY_CLIENT_SECRET": self.client_secret}

    def start(self) -> FakeSpotify:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-spotify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- steering
    def fail(self, path: str, status: int, *, times: int = 1, retry_after: int | None = None,
             message: str | None = None, body: object = None) -> None:
        """Answer the next ``times`` requests to ``path`` (no query; ``*`` for any /v1 path)
        with ``status``, e.g. 429 with ``retry_after``, 500/503, or 401 "The access token expired";
        with ``body`` (a str is sent as text/plain), that instead of Spotify's error object."""
        with self._lock:
            self._faults[path] = _Fault(status, times, retry_after, message, body)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired (401 "The access token expired")."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0

    def revoke_refresh_tokens(self, user: str | None = None) -> None:
        """Refresh tokens (of ``user``, or all) are rejected from now on with invalid_grant."""
        with self._lock:
            for refresh, (owner, _) in list(self._refresh.items()):
                if user is None or owner == user:
                    del self._refresh[refresh]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path (no query) is ``path``, optionally of one method."""
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def liked_uris(self, user: str) -> list[str]:
        return [f"spotify:track:{tid}" for tid in self.users[user]["liked"]]

    # ---------------------------------------------------------------- data
    def _load(self, data: dict) -> None:
        self.tracks = {t["id"]: t for t in data["tracks"]}
        self.users = {}
        self.playlists = {}
        for user_id, user in data["users"].items():
            self.users[user_id] = {"display_name": user.get("display_name", user_id),
                                   "liked": list(user.get("liked", ())), "playlists": []}
            for playlist in user.get("playlists", ()):
                self._add_playlist(user_id, playlist["id"], playlist["name"], playlist.get("public", True),
                                   list(playlist.get("tracks", ())), playlist.get("description", ""))

    def _add_playlist(self, owner, playlist_id, name, public, track_ids, description="") -> dict:
        playlist = {"id": playlist_id, "name": name, "public": bool(public), "owner": owner,
                    "tracks": track_ids, "description": description, "snapshot": 1}
        self.playlists[playlist_id] = playlist
        self.users[owner]["playlists"].append(playlist_id)
        return playlist

    def track_object(self, track_id: str) -> dict:
        t = self.tracks[track_id]
        artist = {"id": t["artist_id"], "uri": f"spotify:artist:{t['artist_id']}", "name": t["artist"],
                  "type": "artist", "href": f"{self.api_base}/artists/{t['artist_id']}"}
        return {
            "id": t["id"], "uri": f"spotify:track:{t['id']}", "name": t["name"], "type": "track",
            "artists": [artist], "duration_ms": t.get("duration_ms", 200_000), "explicit": False,
            "is_local": False, "disc_number": 1, "track_number": 1,
            "href": f"{self.api_base}/tracks/{t['id']}",
            "external_urls": {"spotify": f"https://open.spotify.com/track/{t['id']}"},
            "album": {"id": t["album_id"], "uri": f"spotify:album:{t['album_id']}", "name": t["album"],
                      "type": "album", "album_type": "album", "artists": [artist],
                      "release_date": t.get("release_date", "2000-01-01"), "release_date_precision": "day"},
        }

    def _user_object(self, user_id: str) -> dict:
        return {"id": user_id, "display_name": self.users[user_id]["display_name"], "type": "user",
                "uri": f"spotify:user:{user_id}", "href": f"{self.api_base}/users/{user_id}",
                "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"}}

    def _playlist_object(self, playlist: dict, full: bool) -> dict:
        obj = {
            "id": playlist["id"], "name": playlist["name"], "public": playlist["public"],
            "collaborative": False, "description": playlist["description"], "type": "playlist",
            "uri": f"spotify:playlist:{playlist['id']}", "snapshot_id": f"snap{playlist['snapshot']}",
            "href": f"{self.api_base}/playlists/{playlist['id']}",
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist['id']}"},
            "owner": self._user_object(playlist["owner"]),
        }
        items_path = f"/v1/playlists/{playlist['id']}/items"
        if full:
            page = self._page(items_path, [self._playlist_item(t) for t in playlist["tracks"]],
                              {"limit": ["100"]}, max_limit=100)
        else:
            page = {"href": self.base_url + items_path, "total": len(playlist["tracks"])}
        # Since February 2026 the list is "items"; "tracks" is its deprecated alias.
        obj["items"] = obj["tracks"] = page
        return obj

    def _playlist_item(self, track_id: str) -> dict:
        track = self.track_object(track_id)
        return {"added_at": "2024-01-01T00:00:00Z", "is_local": False, "item": track, "track": track}

    def _page(self, path: str, items: list, query: dict, max_limit: int = 50, default_limit: int = 20) -> dict:
        limit = _int_param(query, "limit", default_limit)
        offset = _int_param(query, "offset", 0)
        if not 1 <= limit <= max_limit or offset < 0:
            raise _Reply(400, _error(400, "Invalid limit" if not 1 <= limit <= max_limit else "Invalid offset"))

        def link(at):
            return f"{self.link_base or self.base_url}{path}?offset={at}&limit={limit}"
        return {
            "href": link(offset), "items": items[offset:offset + limit], "limit": limit, "offset": offset,
            "total": len(items), "next": link(offset + limit) if offset + limit < len(items) else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
        }

    # ---------------------------------------------------------------- HTTP
    def handle(self, request: RecordedRequest) -> tuple[int, object, dict]:
        try:
            if request.path.startswith("/_fake/"):
                return 200, self._control(request), {}
            fault = self._take_fault(request.path)
            if fault is not None:
                headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                if fault.body is not None:
                    return fault.status, fault.body, headers
                return fault.status, _error(fault.status, fault.message or _REASONS.get(fault.status, "Error")), headers
            if request.path == "/authorize" and request.method == "GET":
                return self._authorize(request.query)
            if request.path == "/api/token" and request.method == "POST":
                return 200, self._token(request), {}
            if request.path.startswith("/v1/"):
                return self._api(request)
            raise _Reply(404, _error(404, "Service not found"))
        except _Reply as reply:
            return reply.status, reply.body, reply.headers

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for key in (path, "*" if path.startswith("/v1/") else None):
                fault = self._faults.get(key)
                if fault is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[key]
                    return fault
        return None

    def _control(self, request: RecordedRequest):
        action = request.path.removeprefix("/_fake/")
        body = request.json() if request.body else {}
        if action == "requests":
            return [{"method": r.method, "path": r.path, "query": r.query, "status": r.status}
                    for r in self.requests if not r.path.startswith("/_fake/")]
        if action == "approve_as":
            self.approve_as = body.get("user")
        elif action == "fail":
            self.fail(body["path"], int(body["status"]), times=int(body.get("times", 1)),
                      retry_after=body.get("retry_after"), message=body.get("message"))
        elif action == "expire_access_tokens":
            self.expire_access_tokens()
        elif action == "revoke_refresh_tokens":
            self.revoke_refresh_tokens(body.get("user"))
        else:
            raise _Reply(404, _error(404, f"unknown control {action!r}"))
        return {"ok": True}

    def _authorize(self, query: dict) -> tuple[int, object, dict]:
        q = {k: v[0] for k, v in query.items()}
        if q.get("client_id") != self.client_id:
            raise _Reply(400, "INVALID_CLIENT: Invalid client")
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri or (self.redirect_uris is not None and redirect_uri not in self.redirect_uris):
            raise _Reply(400, "INVALID_CLIENT: Invalid redirect URI")
        if q.get("response_type") != "code":
            raise _Reply(400, "unsupported_response_type")
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            raise _Reply(400, "code_challenge_method must be S256")
        self.authorizations.append(q)
        reply = {"state": q["state"]} if "state" in q else {}
        if self.approve_as is None:
            reply["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = _Grant(self.approve_as, self.client_id, redirect_uri, q.get("scope", ""),
                                            q.get("code_challenge"), time.time() + self.code_lifetime)
            reply = {"code": code, **reply}
        separator = "&" if "?" in redirect_uri else "?"
        return 302, None, {"Location": redirect_uri + separator + urllib.parse.urlencode(reply)}

    def _token(self, request: RecordedRequest) -> dict:
        form = request.form
        client_id, secret = _basic_auth(request.headers.get("authorization", ""))
        if client_id is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if client_id != self.client_id:
            raise _Reply(400, {"error": "invalid_client", "error_description": "Invalid client"})
        if secret is not None and secret != self.client_secret:
            raise _Reply(400, {"error": "invalid_client", "error_description": "Invalid client secret"})
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            if secret is None:
                raise _Reply(400, {"error": "invalid_client", "error_description": "Invalid client secret"})
            return self._issue(None, "", refresh=False)
        if grant_type == "authorization_code":
            return self._exchange_code(form, with_secret=secret is not None)
        if grant_type == "refresh_token":
            with self._lock:
                owner = self._refresh.get(form.get("refresh_token", ""))
            if owner is None:
                raise _Reply(400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
            return self._issue(owner[0], owner[1], refresh=False)
        raise _Reply(400, {"error": "unsupported_grant_type",
                           "error_description": f"grant_type must be client_credentials, authorization_code "
                                                f"or refresh_token, got {grant_type!r}"})

    def _exchange_code(self, form: dict, with_secret: bool) -> dict:
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            if grant is None or grant.used or grant.expires_at < time.time():
                raise _Reply(400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
            grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            raise _Reply(400, {"error": "invalid_grant", "error_description": "Invalid redirect URI"})
        verifier = form.get("code_verifier")
        if grant.code_challenge is not None or verifier is not None:
            challenge = base64.urlsafe_b64encode(hashlib.sha256((verifier or "").encode()).digest())
            if grant.code_challenge is None or challenge.rstrip(b"=").decode() != grant.code_challenge:
                raise _Reply(400, {"error": "invalid_grant", "error_description": "code_verifier was incorrect"})
        elif not with_secret:
            raise _Reply(400, {"error": "invalid_client", "error_description": "Invalid client secret"})
        return self._issue(grant.user, grant.scope, refresh=True)

    def _issue(self, user: str | None, scope: str, refresh: bool) -> dict:
        access = secrets.token_urlsafe(24)
        reply = {"access_token": access, "token_type": "Bearer", "expires_in": self.token_lifetime}
        with self._lock:
            self._tokens[access] = _Token(user, scope, time.time() + self.token_lifetime)
            if refresh:
                reply["refresh_token"] = secrets.token_urlsafe(24)
                self._refresh[reply["refresh_token"]] = (user, scope)
        if user is not None:
            reply["scope"] = scope
        return reply

    def _auth(self, request: RecordedRequest) -> _Token:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise _Reply(401, _error(401, "No token provided"))
        with self._lock:
            token = self._tokens.get(header.removeprefix("Bearer "))
        if token is None:
            raise _Reply(401, _error(401, "Invalid access token"))
        if token.expires_at < time.time():
            raise _Reply(401, _error(401, "The access token expired"))
        return token

    def _api(self, request: RecordedRequest) -> tuple[int, object, dict]:
        token = self._auth(request)
        path, method, query = request.path.rstrip("/"), request.method, request.query
        if re.fullmatch(r"/v1/playlists/" + _ID_RE + "/tracks", path):
            raise _Reply(403, _error(403, "Forbidden"))  # withdrawn for development-mode apps
        if path == "/v1/audio-features":
            if self.audio_features_status is not None:
                raise _Reply(self.audio_features_status, _error(self.audio_features_status, _REASONS.get(
                    self.audio_features_status, "Error")))
            ids = (query.get("ids") or [""])[0].split(",")
            return 200, {"audio_features": [_audio_features(i) if i in self.tracks else None for i in ids]}, {}
        if path.startswith("/v1/me"):
            user = self._need_user(token)
            if path == "/v1/me" and method == "GET":
                return 200, self._user_object(user), {}
            if path == "/v1/me/tracks" and method == "GET":
                self._need_scope(token, "user-library-read")
                saved = [{"added_at": "2024-01-01T00:00:00Z", "track": self.track_object(t)}
                         for t in self.users[user]["liked"]]
                return 200, self._page(path, saved, query), {}
            if path == "/v1/me/playlists" and method == "GET":
                return 200, self._user_playlists(path, user, query, include_private=True), {}
            if path == "/v1/me/playlists" and method == "POST":
                self._check_withdrawn("me_playlists")
                return 201, self._create_playlist(token, user, request.json() or {}), {}
        if m := re.fullmatch(r"/v1/users/" + _ID_RE + "/playlists", path):
            user = m.group(1)
            if user not in self.users:
                raise _Reply(404, _error(404, "Not found."))
            if method == "GET":
                self._check_withdrawn("users_playlists")
                return 200, self._user_playlists(path, user, query, include_private=token.user == user), {}
            if method == "POST":
                self._check_withdrawn("create_user_playlist")
                if token.user != user:
                    raise _Reply(403, _error(403, "You cannot create a playlist for another user"))
                return 201, self._create_playlist(token, user, request.json() or {}), {}
        if m := re.fullmatch(r"/v1/playlists/" + _ID_RE + r"(/items)?", path):
            playlist = self.playlists.get(m.group(1))
            if playlist is None or (not playlist["public"] and token.user != playlist["owner"]):
                raise _Reply(404, _error(404, "Resource not found"))
            if m.group(2) is None and method == "GET":
                return 200, self._playlist_object(playlist, full=True), {}
            if method == "GET":
                items = [self._playlist_item(t) for t in playlist["tracks"]]
                return 200, self._page(path, items, query, max_limit=100, default_limit=100), {}
            if method == "POST":
                return 201, self._add_items(token, playlist, request), {}
        raise _Reply(404, _error(404, "Service not found"))

    def _need_user(self, token: _Token) -> str:
        if token.user is None:
            raise _Reply(401, _error(401, "Unauthorized: this endpoint needs a user token"))
        return token.user

    @staticmethod
    def _need_scope(token: _Token, scope: str) -> None:
        if scope not in token.scope.split():
            raise _Reply(403, _error(403, "Insufficient client scope"))

    def _check_withdrawn(self, name: str) -> None:
        if name in self.withdrawn:
            raise _Reply(403, _error(403, "Forbidden"))

    def _user_playlists(self, path: str, user: str, query: dict, include_private: bool) -> dict:
        owned = [self.playlists[p] for p in self.users[user]["playlists"]]
        visible = [self._playlist_object(p, full=False) for p in owned if p["public"] or include_private]
        return self._page(path, visible, query)

    def _create_playlist(self, token: _Token, user: str, body: dict) -> dict:
        public = body.get("public", True)
        self._need_scope(token, "playlist-modify-public" if public else "playlist-modify-private")
        if not body.get("name"):
            raise _Reply(400, _error(400, "Missing required field: name"))
        with self._lock:
            playlist_id = f"new{len(self.playlists):05d}"
            playlist = self._add_playlist(user, playlist_id, body["name"], public, [], body.get("description", ""))
        return self._playlist_object(playlist, full=True)

    def _add_items(self, token: _Token, playlist: dict, request: RecordedRequest) -> dict:
        user = self._need_user(token)
        if playlist["owner"] != user:
            raise _Reply(403, _error(403, "You cannot add items to a playlist you do not own"))
        self._need_scope(token, "playlist-modify-public" if playlist["public"] else "playlist-modify-private")
        body = request.json() if request.body else None
        uris = body.get("uris", []) if isinstance(body, dict) else body
        if uris is None:
            uris = (request.query.get("uris") or [""])[0].split(",")
        if len(uris) > 100:
            raise _Reply(400, _error(400, "You can add a maximum of 100 tracks per request."))
        ids = []
        for uri in uris:
            track_id = str(uri).removeprefix("spotify:track:")
            if track_id not in self.tracks:
                raise _Reply(400, _error(400, f"Invalid track uri: {uri}"))
            ids.append(track_id)
        with self._lock:
            playlist["tracks"].extend(ids)
            playlist["snapshot"] += 1
        return {"snapshot_id": f"snap{playlist['snapshot']}"}


_REASONS = {400: "Bad request", 401: "The access token expired", 403: "Forbidden", 404: "Not found",
            429: "API rate limit exceeded", 500: "Server error", 502: "Bad gateway",
            503: "Service unavailable"}


def _error(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


def _int_param(query: dict, name: str, default: int) -> int:
    try:
        return int((query.get(name) or [default])[0])
    except ValueError:
        raise _Reply(400, _error(400, f"Invalid {name}")) from None


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    if not header.startswith("Basic "):
        return None, None
    client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return client_id, secret


def _audio_features(track_id: str) -> dict:
    h = hashlib.sha256(track_id.encode()).digest()
    return {"id": track_id, "uri": f"spotify:track:{track_id}", "type": "audio_features",
            "danceability": h[0] / 255, "energy": h[1] / 255, "key": h[2] % 12, "loudness": -h[3] / 10,
            "mode": h[4] % 2, "speechiness": h[5] / 255, "acousticness": h[6] / 255,
            "instrumentalness": h[7] / 255, "liveness": h[8] / 255, "valence": h[9] / 255,
            "tempo": 60 + h[10] / 2}


def _handler_for(fake: FakeSpotify):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(self.command, parts.path, urllib.parse.parse_qs(parts.query),
                                      {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            status, body, headers = fake.handle(request)
            request.status = status
            with fake._lock:
                fake._requests.append(request)
            payload = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            self.send_response(status)
            content_type = "text/plain; charset=utf-8" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args):  # quiet: tests read fake.requests instead
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake Spotify accounts service and Web API.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--data", help="JSON world (tracks, users) instead of the demo one")
    parser.add_argument("--approve-as", default="alice", help="user /authorize logs in as")
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--client-secret", default=CLIENT_SECRET)
    parser.add_argument("--token-lifetime", type=int, default=3600)
    args = parser.parse_args(argv)
    data = json.loads(open(args.data).read()) if args.data else None
    fake = FakeSpotify(data, port=args.port, client_id=args.client_id, client_secret=args.client_secret,
                       approve_as=args.approve_as, token_lifetime=args.token_lifetime)
    print(f"ready {fake.base_url}", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
