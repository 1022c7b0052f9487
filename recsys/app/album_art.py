"""Album art thumbnails from Spotify's public oEmbed endpoint (no login), fetched on the server.

``AlbumArt.thumbnails(ids, budget)`` never blocks a page run for longer than ``budget`` seconds:
fetches run on a small thread pool with a short socket timeout; whatever has not answered in time
is simply left without art this run and lands in the cache for the next one. Answers (art or "no
art", e.g. when the endpoint is unreachable) are kept in a bounded LRU cache with a TTL, so an
endpoint that hangs costs at most one timeout per track per TTL, never an error on the page.
The endpoint is ``$RECSYS_OEMBED_URL`` (default Spotify's; empty switches art off).
"""
from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait

from recsys.spotify import ids

OEMBED_URL_ENV = "RECSYS_OEMBED_URL"
DEFAULT_OEMBED_URL = "https://open.spotify.com/oembed"
# A page run waits at most this long for art (the issue's ~300 ms bound, with room for the rest).
PAGE_BUDGET_S = 0.25
REQUEST_TIMEOUT_S = 2.0
CACHE_ENTRIES = 4096
TTL_S = 24 * 3600.0
FAILURE_TTL_S = 300.0  # an unreachable endpoint is retried after 5 minutes, not on every run
MAX_PENDING = 64       # fetches queued at once; more wait for a later run
_MAX_BODY = 64 * 1024


def oembed_url() -> str:
    return os.environ.get(OEMBED_URL_ENV, DEFAULT_OEMBED_URL).strip()


class AlbumArt:
    """Thumbnail URLs of Spotify tracks by their 22-character id, cached and time-bounded."""

    def __init__(self, base_url: str, *, workers: int = 4, entries: int = CACHE_ENTRIES,
                 ttl_s: float = TTL_S, failure_ttl_s: float = FAILURE_TTL_S,
                 timeout_s: float = REQUEST_TIMEOUT_S):
        self.base_url = base_url
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._pending: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="album-art")
        self._entries, self._ttl, self._failure_ttl = entries, ttl_s, failure_ttl_s
        self._timeout = timeout_s

    def thumbnails(self, spotify_ids, budget_s: float = PAGE_BUDGET_S) -> dict[str, str]:
        """``{id: thumbnail url}`` for the ids whose art is known within ``budget_s`` seconds."""
        deadline = time.monotonic() + budget_s
        found: dict[str, str] = {}
        waiting: list[Future] = []
        with self._lock:
            for sid in dict.fromkeys(spotify_ids):
                cached = self._cached(sid)
                if cached is not None:
                    if cached[1]:
                        found[sid] = cached[1]
                elif sid in self._pending:
                    waiting.append(self._pending[sid])
                elif len(self._pending) < MAX_PENDING:
                    future = self._pool.submit(self._fetch, sid)
                    self._pending[sid] = future
                    waiting.append(future)
        if waiting:
            wait(waiting, timeout=max(0.0, deadline - time.monotonic()))
        for future in waiting:
            if future.done():
                sid, url = future.result()
                if url:
                    found[sid] = url
        return found

    def _cached(self, sid: str) -> tuple[float, str | None] | None:
        entry = self._cache.get(sid)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._cache[sid]
            return None
        self._cache.move_to_end(sid)
        return entry

    def _fetch(self, sid: str) -> tuple[str, str | None]:
        url = None
        try:
            track = ids.track_url(sid)
            request = urllib.request.Request(f"{self.base_url}?url={urllib.parse.quote(track, safe='')}",
                                             headers={"User-Agent": "recsys-app"})
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                thumbnail = json.loads(response.read(_MAX_BODY)).get("thumbnail_url")
            if isinstance(thumbnail, str) and thumbnail.startswith("https://"):
                url = thumbnail
        except (OSError, ValueError, AttributeError):
            url = None  # unreachable, slow, or not oEmbed: no art, and no error for the listener
        with self._lock:
            self._pending.pop(sid, None)
            self._cache[sid] = (time.monotonic() + (self._ttl if url else self._failure_ttl), url)
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return sid, url
