"""What a logged-in Spotify client reads and writes for the app and the crawler: the user's liked
tracks and a saved playlist, and the scopes (permissions) each needs. Web API calls only; the
login that yields the client is ``recsys.spotify.oauth``."""
from __future__ import annotations

from collections.abc import Callable

import spotipy
from spotipy.oauth2 import SpotifyOAuth

from recsys.spotify import ids
from recsys.spotify.client import LoginRequired, pages, track_row

LIBRARY_SCOPE = "user-library-read"
PLAYLIST_SCOPE = "playlist-modify-private"
# Asked for only when the user chooses to save a playlist.
SAVE_PLAYLIST_SCOPE = f"{LIBRARY_SCOPE} {PLAYLIST_SCOPE}"
_ADD_ITEMS_BATCH = 100  # Spotify's limit per "add items to playlist" request


def fetch_liked_tracks(sp: spotipy.Spotify, progress: Callable[[int, int], None] | None = None,
                       page_size: int = 50) -> list[dict]:
    """The user's liked tracks, page by page, newest first: dicts with ``track_id`` (the URI),
    ``name``, ``artist``, ``album``, ``artist_id``, ``album_id``, ``duration_ms``.
    ``progress(done, total)`` is called after each page."""
    liked = []
    for page in pages(sp, sp.current_user_saved_tracks(limit=page_size)):
        items = page.get("items") or []
        liked.extend(row for item in items if (row := track_row(item.get("track") or item.get("item"))))
        if progress is not None:
            total = int(page.get("total") or 0)
            progress(min(total, int(page.get("offset") or 0) + len(items)), total)
    return liked


def save_playlist(sp: spotipy.Spotify, name: str, track_uris: list[str], *,
                  description: str = "") -> dict:
    """Create a private playlist ``name`` in the user's library with ``track_uris`` (Spotify
    track URIs; other ids are skipped) and return Spotify's playlist object. Needs a login with
    ``SAVE_PLAYLIST_SCOPE``; without it raises ``LoginRequired`` (log in again with
    ``oauth.login_url(config, store, scope=SAVE_PLAYLIST_SCOPE)``)."""
    manager = sp.auth_manager
    if not isinstance(manager, SpotifyOAuth) or PLAYLIST_SCOPE not in (manager.scope or "").split():
        raise LoginRequired(f"saving a playlist needs Spotify's {PLAYLIST_SCOPE!r} permission; "
                            "log in again to grant it")
    uris = [uri for uri in track_uris if ids.is_track_uri(uri)]
    # POST /me/playlists: the /users/{id}/playlists variant is withdrawn for development-mode apps.
    playlist = sp.current_user_playlist_create(name, public=False, description=description)
    for start in range(0, len(uris), _ADD_ITEMS_BATCH):
        sp.playlist_add_items(playlist["id"], uris[start:start + _ADD_ITEMS_BATCH])
    return playlist
