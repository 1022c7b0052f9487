"""The Recommend page's state (kept by ``recsys.app.state``) and its URL: the callbacks of the
page's buttons, the artist-cap clamp, and the link that restores it all (``recsys.app.url_state``)."""
from __future__ import annotations

import streamlit as st

from recsys.app import state, tables, url_state
from recsys.app.session import Served

CAP_LIMITS = url_state.CAP_RANGE
K_DEFAULT = 20
# From this diversity on, MMR picks tracks for being unlike each other more than for being like
# the seeds (at 1.0, Queen seeds bring "Eenie Meenie"): the page warns.
DRIFT_DIVERSITY = 0.7


def add_seed(track: dict) -> None:
    state.set_seeds(state.seeds() + [_seed(track)])


def remove_seed(track: dict) -> None:
    state.set_seeds([s for s in state.seeds() if s["track_id"] != track["track_id"]])


def clear_seeds() -> None:
    state.set_seeds([])


def more_like_this(track: dict) -> None:
    """Start over from this one track."""
    state.set_seeds([_seed(track)])
    state.set_playing(None)


def play(track: dict) -> None:
    state.set_playing(track["track_id"])


def _seed(track: dict) -> dict:
    return {"track_id": track["track_id"], "name": track["name"], "artist": track["artist"]}


def clamp_cap() -> None:
    """on_change of the artist-cap box: an out-of-range entry becomes the nearest bound, and the
    next run says so (the browser would otherwise keep the old value without a word)."""
    value = state.cap()
    if value is None:
        return
    low, high = CAP_LIMITS
    clamped = tables.clamp(int(value), low, high)
    if clamped != value:
        state.set_controls(**{state.CAP: clamped})
        state.set_note(f"Max tracks per artist goes from {low} (no limit) to {high}: "
                       f"{value} was changed to {clamped}.")


def restore_from_url(served: Served) -> list[str]:
    """On a session's first run of the page, take seeds, k, diversity and the cap from the link;
    returns what was wrong with the link (plain text). Later runs return nothing."""
    if not state.first_restore():
        return []
    link = url_state.parse(st.query_params)
    problems = link.problems
    if link.model and link.model != served.model:
        problems.append(f"The link's model {link.model!r} is not available here; "
                        f"serving {served.model} instead.")
    if link.seeds:
        rows = served.catalog_rows(link.seeds)
        catalog = served.recommender.catalog
        known = [{"track_id": t, "name": catalog["name"].iat[r], "artist": catalog["artist"].iat[r]}
                 for t, r in zip(link.seeds, rows) if r >= 0]
        if len(known) < len(link.seeds):
            problems.append(f"{len(link.seeds) - len(known)} of the link's {len(link.seeds)} seeds "
                            f"are not in the catalog of {served.label} and were left out.")
        state.set_seeds(known)
    state.set_controls(**{key: value for key, value in ((state.K, link.k), (state.DIVERSITY, link.diversity),
                                                         (state.CAP, link.max_per_artist)) if value is not None})
    return problems


def write_url(served: Served, *, k: int, diversity: float, cap: int | None) -> None:
    """Put the page's state in the address bar, so a reload keeps it and the link shares it."""
    params = url_state.to_params([s["track_id"] for s in state.seeds()], k=k, diversity=diversity,
                                 max_per_artist=cap, model=served.model)
    if dict(st.query_params) != params:
        st.query_params.from_dict(params)
