"""Everything the app keeps in ``st.session_state``, in one place: each key, what it holds, and
typed accessors. Nothing else reads or writes ``st.session_state`` by a string key. A session
holds only small, per-user things; the loaded models are shared by the process
(``recsys.app.session``).

Keys that are also widget keys (the widget shows and edits the value; code may set it before the
widget is drawn): ``MODEL``, ``VERSION`` (the sidebar picker), ``K``, ``DIVERSITY``, ``CAP`` (the
Recommend page's controls) and each search box's ``<key>_query``. The Spotify token and profile
are kept by ``recsys.spotify.oauth`` in the mapping ``spotify_store()`` returns.
"""
from __future__ import annotations

from collections.abc import MutableMapping

import streamlit as st

MODEL = "picked_model"          # the model picked in the sidebar
VERSION = "picked_version"      # its version picked in the sidebar
K = "k"                         # Recommend: how many
DIVERSITY = "diversity"         # Recommend: MMR diversity
CAP = "max_per_artist"          # Recommend: the artist cap; None = automatic, 0 = no limit
_SERVED = "_served_artifact"    # (model, version) the entrypoint loaded for this run
_SEEDS = "seeds"                # [{track_id, name, artist}]; kept across pages and model versions
_PLAYING = "playing"            # the track_id in the player (None: the first recommendation)
_NOTE = "recommend_note"        # a message for the Recommend page's next run (a clamped input)
_RESTORED = "_url_restored"     # the Recommend page has read its link once
_FOCUS = "explorer_focus"       # the Explorer's track: {track_id, name, artist}
_LOGIN_NOTICE = "spotify_login_notice"  # the outcome of the last login: ("success" | "error", text)
_LOGIN_LINK = "spotify_login_link"      # {url, scope, issued}: this session's authorize URL
_LIKED = "spotify_liked"        # the logged-in user's liked tracks (session memory only)


def _pop(key: str):
    return st.session_state.pop(key, None)


# -- the served artifact and the sidebar picker --

def served_key() -> tuple[str, str] | None:
    return st.session_state.get(_SERVED)


def set_served(model: str | None, version: str | None = None) -> None:
    """Record the (model, version) this run serves; ``None`` forgets it (nothing loads)."""
    if model is None:
        _pop(_SERVED)
    else:
        st.session_state[_SERVED] = (model, version)


def picked_model() -> str | None:
    return st.session_state.get(MODEL)


def set_picked_model(model: str) -> None:
    st.session_state[MODEL] = model


def picked_version() -> str | None:
    return st.session_state.get(VERSION)


def set_picked_version(version: str) -> None:
    st.session_state[VERSION] = version


def forget_picked_version() -> None:
    _pop(VERSION)


# -- the Recommend page --

def seeds() -> list[dict]:
    return st.session_state.get(_SEEDS, [])


def set_seeds(tracks: list[dict]) -> None:
    st.session_state[_SEEDS] = tracks


def playing() -> str | None:
    return st.session_state.get(_PLAYING)


def set_playing(track_id: str | None) -> None:
    st.session_state[_PLAYING] = track_id


def cap() -> int | None:
    return st.session_state.get(CAP)


def set_controls(**values) -> None:
    """Set the Recommend page's controls (``k``, ``diversity``, ``max_per_artist``) before their
    widgets are drawn, e.g. from a link."""
    unknown = set(values) - {K, DIVERSITY, CAP}
    if unknown:
        raise KeyError(f"not a Recommend control: {sorted(unknown)}")
    st.session_state.update(values)


def set_note(text: str) -> None:
    st.session_state[_NOTE] = text


def pop_note() -> str | None:
    return _pop(_NOTE)


def first_restore() -> bool:
    """True once per session: the first time the Recommend page asks whether to read its link."""
    if st.session_state.get(_RESTORED):
        return False
    st.session_state[_RESTORED] = True
    return True


# -- the Explorer --

def focus() -> dict | None:
    return st.session_state.get(_FOCUS)


def set_focus(track: dict) -> None:
    st.session_state[_FOCUS] = {k: track[k] for k in ("track_id", "name", "artist")}


# -- search boxes (recsys.app.widgets.track_search), namespaced by the box's key --

def search_query_key(box: str) -> str:
    return f"{box}_query"


def search_query(box: str) -> str:
    return st.session_state.get(search_query_key(box)) or ""


def cut_search_query(box: str, limit: int) -> None:
    """Cut the box's text to ``limit`` characters and remember that it was cut."""
    st.session_state[search_query_key(box)] = search_query(box)[:limit]
    st.session_state[f"{box}_cut"] = True


def pop_search_cut(box: str) -> bool:
    return bool(_pop(f"{box}_cut"))


def search_limit(box: str, default: int) -> int:
    return st.session_state.get(f"{box}_limit", default)


def set_search_limit(box: str, limit: int | None) -> None:
    """Show ``limit`` hits in the box; None: back to the first page."""
    if limit is None:
        _pop(f"{box}_limit")
    else:
        st.session_state[f"{box}_limit"] = limit


# -- Spotify login (recsys.app.spotify_login) --

def spotify_store() -> MutableMapping:
    """The mapping ``recsys.spotify.oauth`` keeps this session's token and profile in."""
    return st.session_state


def login_link() -> dict | None:
    return st.session_state.get(_LOGIN_LINK)


def set_login_link(link: dict) -> None:
    st.session_state[_LOGIN_LINK] = link


def set_login_notice(kind: str, text: str) -> None:
    st.session_state[_LOGIN_NOTICE] = (kind, text)


def pop_login_notice() -> tuple[str, str] | None:
    return _pop(_LOGIN_NOTICE)


def liked() -> list[dict] | None:
    """The liked tracks fetched for the logged-in user; None until fetched."""
    return st.session_state.get(_LIKED)


def set_liked(tracks: list[dict]) -> None:
    st.session_state[_LIKED] = tracks


def forget_liked() -> None:
    _pop(_LIKED)


def forget_spotify() -> None:
    """Forget what the app fetched or issued for a Spotify login (not the token: see oauth.logout)."""
    _pop(_LOGIN_LINK)
    _pop(_LIKED)
