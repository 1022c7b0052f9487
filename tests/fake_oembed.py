"""A fake Spotify oEmbed endpoint on 127.0.0.1 for the album-art tests: it answers
``/oembed?url=https://open.spotify.com/track/<id>`` with a thumbnail URL derived from the id, or,
with ``hang=True``, holds every request open for ``hang_s`` seconds without answering."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def thumbnail_of(spotify_id: str) -> str:
    return f"https://i.scdn.co/image/fake-{spotify_id}"


class FakeOEmbed:
    def __init__(self, *, hang: bool = False, hang_s: float = 3.0):
        self.hang, self.hang_s = hang, hang_s
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                fake.requests.append(self.path)
                if fake.hang:
                    time.sleep(fake.hang_s)
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                track_url = query.get("url", [""])[0]
                spotify_id = track_url.rsplit("/", 1)[-1]
                body = json.dumps({"type": "rich", "thumbnail_url": thumbnail_of(spotify_id)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/oembed"

    def __enter__(self) -> "FakeOEmbed":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
