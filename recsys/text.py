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


# What marks a " - ..." title suffix as a version of the same song (Spotify's own style:
# "Levels - Radio Edit", "Yesterday - Remastered 2009", "Sweet Child O' Mine - Live ...").
_VERSION_WORDS = ("remaster", "live", "edit", "version", "mix", "mono", "stereo", "acoustic", "demo",
                  "instrumental", "single", "deluxe", "bonus", "feat", "with ", "recorded", "session",
                  "unplugged", "extended", "original", "re-record", "take", "bbc", "from ")
_BRACKETED = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_DASH_SUFFIX = re.compile(r"\s+-\s+(.*)$")


def song_title(name: object) -> str:
    """The title shared by every version of a song: normalised, without bracketed parts
    ("(feat. ...)", "[Remix]") and without a " - ..." suffix naming a version ("- Radio Edit",
    "- Remastered 2011", "- Live at ..."). A dash suffix that names no version stays."""
    title = normalize_text(name)
    title = _BRACKETED.sub("", title).strip()
    suffix = _DASH_SUFFIX.search(title)
    if suffix and any(word in suffix.group(1) + " " for word in _VERSION_WORDS):
        title = title[:suffix.start()].strip()
    return title or normalize_text(name)


def song_key(name: object, artist: object) -> str:
    """Two tracks are the same song (another version of it) when their artist and
    :func:`song_title` match; serving never recommends a second version of a song."""
    return f"{normalize_text(artist)}\x1f{song_title(name)}"
