"""A bounded, resumable, breadth-first crawl of Spotify playlists through the Web API.

Seeds are playlist ids and user ids. With an app (client-credentials) token the crawl reads
public playlists and expands from each playlist to its owner's other public playlists; with a
user token it also reads that user's liked tracks and own playlists. It stops after
``max_playlists`` playlists.

Every finished step is appended to a JSON Lines state file and flushed before the next request,
so a crawl stopped at any moment (Ctrl-C, a crash, a rate limit that outlasts the retries) is
resumed by running it again with the same state file: finished playlists are not fetched again.

Coded against the Web API as it stands since February 2026: playlist entries come from
``GET /playlists/{id}/items`` (entries carry ``item``, formerly ``track``), no batch track
look-ups, no ``popularity`` for development-mode apps. Audio features are asked for once; apps
registered after November 2024 get 403 and the crawl goes on without them. An endpoint Spotify
has withdrawn for this app (403/404) is reported once in plain words.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from recsys.data.dataset import AUDIO_FEATURES
from recsys.spotify import ids as spotify_ids
from recsys.spotify.client import SpotifyApiError, SpotifyError, pages, track_row
from recsys.spotify.library import fetch_liked_tracks

PAGE_SIZE = 50
FEATURES_BATCH = 100


class CrawlError(SpotifyError):
    """A crawl cannot start or go on; the message says why (and how to resume, if it can)."""


def playlist_id(value: str) -> str:
    """The bare id of a playlist given as id, ``spotify:playlist:ID`` URI or open.spotify.com URL."""
    found = spotify_ids.playlist_id(value)
    if found is None:
        raise CrawlError(f"{value!r} is not a Spotify playlist id, spotify:playlist: URI or playlist URL")
    return found


@dataclass
class CrawlState:
    """What a crawl has done so far, replayed from (and appended to) a JSON Lines file.

    One event per line: ``playlist`` (a finished playlist with its track rows), ``skipped`` (a
    playlist that cannot be read), ``discovered`` (an owner's playlists, queued), ``liked`` (a
    user's liked tracks), ``features`` (audio features by track id) and
    ``features_unavailable``.
    """

    path: Path
    playlists: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    discovered: list[str] = field(default_factory=list)
    expanded_owners: set[str] = field(default_factory=set)
    liked: dict | None = None
    features: dict[str, dict] = field(default_factory=dict)
    features_unavailable: bool = False

    @classmethod
    def open(cls, path: str | os.PathLike) -> CrawlState:
        """Replay ``path`` if it exists (a torn last line from a crash is dropped)."""
        state = cls(Path(path))
        if not state.path.exists():
            return state
        raw = state.path.read_bytes()
        lines = raw.split(b"\n")
        good = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                good += len(line) + 1
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # the write a crash interrupted
                    break
                raise CrawlError(f"{state.path}:{number}: not a crawl state line; "
                                 "delete the file to start the crawl afresh") from None
            state._apply(event)
            good += len(line) + 1
        if good < len(raw):
            with open(state.path, "r+b") as f:
                f.truncate(good)
        return state

    def _apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "playlist":
            self.playlists[event["id"]] = event
        elif kind == "skipped":
            self.skipped[event["id"]] = event["reason"]
        elif kind == "discovered":
            self.expanded_owners.add(event["owner"])
            self.discovered.extend(event["playlists"])
        elif kind == "liked":
            self.liked = event
        elif kind == "features":
            self.features.update(event["features"])
        elif kind == "features_unavailable":
            self.features_unavailable = True
        else:
            raise CrawlError(f"{self.path}: unknown event {kind!r}; delete the file to start afresh")

    def record(self, event: dict) -> None:
        """Apply ``event`` and append it to the file, flushed to disk before returning."""
        self._apply(event)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def done(self, pid: str) -> bool:
        return pid in self.playlists or pid in self.skipped

    def rows(self) -> list[dict]:
        """One row per (playlist, track) for ``recsys.data.dataset.from_rows``, with audio features
        where they were fetched."""
        rows = []
        collections = list(self.playlists.values()) + ([self.liked] if self.liked else [])
        for playlist in collections:
            for pos, track in enumerate(playlist["tracks"]):
                row = {**track, "playlist_id": playlist["uri"], "playlist_name": playlist["name"], "pos": pos}
                row.update(self.features.get(track["track_id"]) or {})
                rows.append(row)
        return rows


class Crawler:
    """Breadth-first crawl; ``say`` receives the one-off notices (withdrawn endpoints, missing
    audio features), ``on_playlist(done, limit)`` the progress."""

    def __init__(self, app, state: CrawlState, *, user=None, max_playlists: int = 50,
                 expand_owners: bool = True, say: Callable[[str], None] | None = None,
                 on_playlist: Callable[[int, int], None] | None = None):
        if max_playlists < 1:
            raise CrawlError(f"--max-playlists must be at least 1, got {max_playlists}")
        self.app, self.user, self.state = app, user, state
        self.reader = user or app  # a user token also reads that user's private playlists
        self.max_playlists = max_playlists
        self.expand_owners = expand_owners
        self.say = say or (lambda message: print(message, file=sys.stderr))
        self.on_playlist = on_playlist
        self._said: set[str] = set()

    def crawl(self, *, users: Iterable[str] = (), playlists: Iterable[str] = (), liked: bool = False,
              features: bool = True) -> CrawlState:
        seeds = [playlist_id(p) for p in playlists]
        owners = deque(u for u in users if u not in self.state.expanded_owners)
        if liked:
            if self.user is None:
                raise CrawlError("--liked needs a user login")
            self._crawl_liked()
        queued: set[str] = set()
        queue: deque[str] = deque()

        def enqueue(ids):
            for pid in ids:
                if pid not in queued:
                    queued.add(pid)
                    queue.append(pid)
        enqueue(seeds)
        enqueue(self.state.discovered)
        if self.expand_owners:
            # Owners of playlists finished before an interruption, not expanded yet.
            owners.extend(p["owner"] for p in self.state.playlists.values()
                          if p["owner"] and p["owner"] not in self.state.expanded_owners)
        self._report()
        while len(self.state.playlists) < self.max_playlists:
            while owners and len(queue) < self.max_playlists:
                owner = owners.popleft()
                if owner not in self.state.expanded_owners:
                    enqueue(self._expand(owner))
            while queue and self.state.done(queue[0]):
                queue.popleft()
            if not queue:
                if owners:
                    continue
                break
            playlist = self._crawl_playlist(queue.popleft())
            if playlist and self.expand_owners and playlist["owner"] not in self.state.expanded_owners:
                owners.append(playlist["owner"])
            self._report()
        if features:
            self._crawl_features()
        return self.state

    def _report(self) -> None:
        if self.on_playlist is not None:
            self.on_playlist(len(self.state.playlists), self.max_playlists)

    def _notice(self, key: str, message: str) -> None:
        if key not in self._said:
            self._said.add(key)
            self.say(message)

    def _crawl_liked(self) -> None:
        me = self.user.current_user()
        if self.state.liked is None:
            tracks = fetch_liked_tracks(self.user, page_size=PAGE_SIZE)
            self.state.record({"event": "liked", "uri": f"spotify:user:{me['id']}:collection",
                               "name": f"Liked Songs of {me.get('display_name') or me['id']}",
                               "owner": me["id"], "tracks": tracks})
        key = f"me:{me['id']}"
        if key not in self.state.expanded_owners:
            own = [p["id"] for page in pages(self.user, self.user.current_user_playlists(limit=PAGE_SIZE))
                   for p in page.get("items") or [] if p]
            self.state.record({"event": "discovered", "owner": key, "playlists": own})

    def _expand(self, owner: str) -> list[str]:
        """Queue ``owner``'s public playlists (at most ``max_playlists`` of them)."""
        if "users_playlists" in self._said:
            return []
        found = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # spotipy flags user_playlists
                first = self.app.user_playlists(owner, limit=PAGE_SIZE)
            for page in pages(self.app, first):
                found.extend(p["id"] for p in page.get("items") or [] if p and p.get("public", True) is not False)
                if len(found) >= self.max_playlists:
                    break
        except SpotifyApiError as exc:
            if exc.http_status == 403:
                self._notice("users_playlists", (
                    f"Spotify refuses GET /users/{{id}}/playlists for this app (HTTP 403): it was withdrawn "
                    "for development-mode apps in February 2026, so the crawl cannot expand to owners' "
                    "other playlists and reads only the playlists given with --playlist."))
                return []
            if exc.http_status == 404:
                self.say(f"Spotify user {owner!r} not found (HTTP 404); skipped")
            else:
                raise
        self.state.record({"event": "discovered", "owner": owner, "playlists": found[:self.max_playlists]})
        return found

    def _crawl_playlist(self, pid: str) -> dict | None:
        try:
            meta = self.reader.playlist(pid, fields="id,name,uri,public,owner(id,display_name)")
            tracks = []
            for page in pages(self.reader, self.reader.playlist_items(pid, limit=PAGE_SIZE,
                                                                      additional_types=("track",))):
                for entry in page.get("items") or []:
                    # Since February 2026 an entry's content is "item"; "track" is its old name.
                    row = track_row((entry or {}).get("item") or (entry or {}).get("track"))
                    if row:
                        tracks.append(row)
        except SpotifyApiError as exc:
            if exc.http_status not in (403, 404):
                raise
            reason = "not found or private" if exc.http_status == 404 else "Spotify refuses its items to this app"
            self.say(f"playlist {pid}: {reason} (HTTP {exc.http_status}); skipped")
            if exc.http_status == 403:
                self._notice("playlist_403", (
                    "Development-mode apps may read the items only of playlists the logged-in user owns "
                    "or collaborates on (Spotify, February 2026)."))
            self.state.record({"event": "skipped", "id": pid, "reason": f"HTTP {exc.http_status}"})
            return None
        playlist = {"event": "playlist", "id": pid, "uri": meta.get("uri") or spotify_ids.PLAYLIST_PREFIX + pid,
                    "name": meta.get("name") or pid, "owner": (meta.get("owner") or {}).get("id") or "",
                    "tracks": tracks}
        self.state.record(playlist)
        return playlist

    def _crawl_features(self) -> None:
        if self.state.features_unavailable:
            return
        ids = sorted({row["track_id"] for row in self.state.rows()
                      if spotify_ids.is_track_uri(row["track_id"])} - set(self.state.features))
        for start in range(0, len(ids), FEATURES_BATCH):
            batch = ids[start:start + FEATURES_BATCH]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # spotipy flags audio_features
                    found = self.app.audio_features(batch) or []
            except SpotifyApiError as exc:
                if exc.http_status not in (403, 404):
                    raise
                self.say(f"Spotify does not serve audio features to this app (HTTP {exc.http_status}; "
                         "withdrawn for apps registered since 27 November 2024): the dataset has none.")
                self.state.record({"event": "features_unavailable", "status": exc.http_status})
                return
            by_uri = {f["uri"]: {name: f.get(name) for name in AUDIO_FEATURES}
                      for f in found if f and f.get("uri")}
            self.state.record({"event": "features", "features": {uri: by_uri.get(uri, {}) for uri in batch}})
