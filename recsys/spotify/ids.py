"""Spotify's id grammar, in one place: track ids, URIs and links, playlist ids. Pure functions
(no network, no spotipy), used by ingest, serving, the app and the crawler alike.

A track id is 22 base-62 characters; its URI is ``spotify:track:<id>``; its page is
``https://open.spotify.com/track/<id>``. Text from users (a pasted link, a URL parameter) is
matched whole, never searched for inside longer text (which costs quadratic time on hostile
input), and only up to ``MAX_ID_TEXT`` characters.
"""
from __future__ import annotations

import re
from urllib.parse import quote

TRACK_PREFIX = "spotify:track:"
PLAYLIST_PREFIX = "spotify:playlist:"
WEB = "https://open.spotify.com"
MAX_ID_TEXT = 300  # a track link with its ?si= tracking suffix is ~80 characters

TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")
_LINK = r"(?:https?://)?open\.spotify\.com/(?:intl-[a-z-]{2,10}/)?"
_SUFFIX = r"(?:[?#][^\s]{0,200})?"  # ?si=... tracking and #fragments
_TRACK_TEXT = re.compile(rf"(?:{TRACK_PREFIX}|{_LINK}track/)?({TRACK_ID.pattern}){_SUFFIX}")
_PLAYLIST_ID = re.compile(r"[0-9A-Za-z]{1,64}")
_PLAYLIST_LINK = re.compile(rf"{_LINK}playlist/({_PLAYLIST_ID.pattern}){_SUFFIX}")


def track_uri(value: object) -> str | None:
    """``spotify:track:<id>`` for a URI, an open.spotify.com link or a bare 22-character id;
    None for anything else (a local key such as ``local:3fa2…``, a longer text)."""
    if not isinstance(value, str) or len(value) > MAX_ID_TEXT:
        return None
    found = _TRACK_TEXT.fullmatch(value.strip())
    return f"{TRACK_PREFIX}{found.group(1)}" if found else None


def track_id(value: object) -> str | None:
    """The 22-character id of whatever ``track_uri`` accepts; None otherwise."""
    uri = track_uri(value)
    return uri[len(TRACK_PREFIX):] if uri else None


def is_track_uri(value: object) -> bool:
    """Whether ``value`` is a URI Spotify handed out for a track (``spotify:track:…``): what its
    Web API takes where it asks for track URIs. Only the prefix is checked; ``spotify:local:…``
    (a user's local file) is not one."""
    return isinstance(value, str) and value.startswith(TRACK_PREFIX)


def uri_prefix(kind: str) -> str:
    """``spotify:<kind>:``, the prefix of a ``track``, ``playlist``, ``album``... URI."""
    return f"spotify:{kind}:"


def track_url(track_id_: str) -> str:
    """The track's page on Spotify, for a 22-character id."""
    return f"{WEB}/track/{_checked(track_id_)}"


def embed_url(track_id_: str) -> str:
    """The Spotify embedded player of a 22-character id (``ValueError`` for anything else, so
    no other text reaches an iframe's src)."""
    return f"{WEB}/embed/track/{_checked(track_id_)}"


def search_url(text: str) -> str:
    """A Spotify search for ``text`` (for a track without a Spotify id)."""
    return f"{WEB}/search/" + quote(text.strip(), safe="")


def playlist_url(playlist_id_: str) -> str:
    return f"{WEB}/playlist/" + quote(str(playlist_id_))


def playlist_id(value: object) -> str | None:
    """The bare id of a playlist given as id, ``spotify:playlist:ID`` URI or open.spotify.com
    link; None when ``value`` is none of these."""
    text = str(value).strip()
    if text.startswith(PLAYLIST_PREFIX):
        text = text.removeprefix(PLAYLIST_PREFIX)
    elif len(text) <= MAX_ID_TEXT and (match := _PLAYLIST_LINK.fullmatch(text)):
        text = match.group(1)
    return text if _PLAYLIST_ID.fullmatch(text) else None


def _checked(track_id_: str) -> str:
    if not isinstance(track_id_, str) or not TRACK_ID.fullmatch(track_id_):
        raise ValueError(f"{track_id_!r} is not a Spotify track id")
    return track_id_
