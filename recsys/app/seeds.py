"""The seeds of this browser session: one list of {track_id, name, artist} in ``st.session_state``,
kept across pages and model versions. The Recommend page recommends from them; other pages
(the Explorer's "Add as seed") add to them through ``add``."""
from __future__ import annotations

import streamlit as st

KEY = "seeds"


def current() -> list[dict]:
    """The seeds, in the order they were added."""
    return st.session_state.get(KEY, [])


def add(track: dict) -> None:
    """Append ``track`` (track_id, name, artist), unless it is a seed already."""
    if track["track_id"] not in {s["track_id"] for s in current()}:
        st.session_state[KEY] = current() + [{k: track[k] for k in ("track_id", "name", "artist")}]
