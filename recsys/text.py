"""Text normalisation shared by ingest (track keys), search and external matching.

One definition, so a key computed at ingest time matches the key computed when a Spotify
user's liked track is looked up in the catalog.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalize_text(text: object) -> str:
    """Accent-free, case-folded, whitespace-collapsed form of ``text`` ('' for missing values)."""
    if text is None or text != text:  # None or NaN
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def _local_key(prefix: str, *parts: object) -> str:
    payload = "\x1f".join(normalize_text(p) for p in parts).encode()
    return f"{prefix}:" + hashlib.sha1(payload).hexdigest()[:16]


def track_key(name: object, artist: object) -> str:
    """Stable id for a track that has no Spotify URI: ``local:`` + 16 hex digits of
    sha1(normalised name, U+001F, normalised artist). Same name and artist, same key."""
    return _local_key("local", name, artist)


def artist_key(artist: object) -> str:
    """Stable id for an artist that has no Spotify URI: ``local-artist:`` + 16 hex digits."""
    return _local_key("local-artist", artist)


def album_key(album: object, artist: object) -> str:
    """Stable id for an album that has no Spotify URI: ``local-album:`` + 16 hex digits."""
    return _local_key("local-album", album, artist)
