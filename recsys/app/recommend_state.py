"""The Recommend page's state in ``st.session_state`` and in the URL: the seeds, the track in the
player, the callbacks of the page's buttons, the artist-cap clamp, and the link that restores it
all (``recsys.app.url_state``)."""
from __future__ import annotations

import streamlit as st

from recsys.app import tables, url_state
from recsys.app.session import Served

SEEDS = "seeds"          # list of {track_id, name, artist}; kept across pages and model versions
PLAYING = "playing"      # the track_id in the player (None: the first recommendation)
CAP = "max_per_artist"   # the artist-cap widget: None = automatic, 0 = no limit
_NOTE = "recommend_note"  # a message for the next run (e.g. a clamped input)
_RESTORED = "_url_restored"
CAP_LIMITS = url_state.CAP_RANGE
K_DEFAULT = 20
# From this diversity on, MMR picks tracks for being unlike each other more than for being like
# the seeds (at 1.0, Queen seeds bring "Eenie Meenie"): the page warns.
DRIFT_DIVERSITY = 0.7


def seeds() -> list[dict]:
    return st.session_state.get(SEEDS, [])


def add_seed(track: dict) -> None:
    st.session_state[SEEDS] = seeds() + [_seed(track)]


def remove_seed(track: dict) -> None:
    st.session_state[SEEDS] = [s for s in seeds() if s["track_id"] != track["track_id"]]


def clear_seeds() -> None:
    st.session_state[SEEDS] = []


def more_like_this(track: dict) -> None:
    """Start over from this one track."""
    st.session_state[SEEDS] = [_seed(track)]
    st.session_state[PLAYING] = None


def play(track: dict) -> None:
    st.session_state[PLAYING] = track["track_id"]


def _seed(track: dict) -> dict:
    return {"track_id": track["track_id"], "name": track["name"], "artist": track["artist"]}


def clamp_cap() -> None:
    """on_change of the artist-cap box: an out-of-range entry becomes the nearest bound, and the
    next run says so (the browser would otherwise keep the old value without a word)."""
    value = st.session_state.get(CAP)
    if value is None:
        return
    low, high = CAP_LIMITS
    clamped = tables.clamp(int(value), low, high)
    if clamped != value:
        st.session_state[CAP] = clamped
        st.session_state[_NOTE] = (f"Max tracks per artist goes from {low} (no limit) to {high}: "
                                   f"{value} was changed to {clamped}.")


def pop_note() -> str | None:
    return st.session_state.pop(_NOTE, None)


def restore_from_url(served: Served) -> list[str]:
    """On a session's first run of the page, take seeds, k, diversity and the cap from the link;
    returns what was wrong with the link (plain text). Later runs return nothing."""
    if st.session_state.get(_RESTORED):
        return []
    st.session_state[_RESTORED] = True
    state = url_state.parse(st.query_params)
    problems = state.problems
    if state.model and state.model != served.model:
        problems.append(f"The link's model {state.model!r} is not available here; "
                        f"serving {served.model} instead.")
    if state.seeds:
        rows = served.catalog_rows(state.seeds)
        catalog = served.recommender.catalog
        known = [{"track_id": t, "name": catalog["name"].iat[r], "artist": catalog["artist"].iat[r]}
                 for t, r in zip(state.seeds, rows) if r >= 0]
        if len(known) < len(state.seeds):
            problems.append(f"{len(state.seeds) - len(known)} of the link's {len(state.seeds)} seeds "
                            f"are not in the catalog of {served.label} and were left out.")
        st.session_state[SEEDS] = known
    for key, value in (("k", state.k), ("diversity", state.diversity), (CAP, state.max_per_artist)):
        if value is not None:
            st.session_state[key] = value
    return problems


def write_url(served: Served, *, k: int, diversity: float, cap: int | None) -> None:
    """Put the page's state in the address bar, so a reload keeps it and the link shares it."""
    params = url_state.to_params([s["track_id"] for s in seeds()], k=k, diversity=diversity,
                                 max_per_artist=cap, model=served.model)
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
