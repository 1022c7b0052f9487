"""The Recommend page's state as a shareable URL query (no Streamlit here): seeds, k, diversity,
the artist cap and the model. Parsing never raises: whatever in a link is malformed, hostile or
too long is dropped and reported in ``UrlState.problems`` (plain text, for the page to show)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from recsys.spotify import ids

# A link holds at most this many seeds; more is refused outright (a playlist continuation needs
# a handful, and a link of thousands of ids is not one a person made).
MAX_URL_SEEDS = 50
# The longest seeds parameter worth splitting: MAX_URL_SEEDS ids of 22 characters and separators.
_MAX_SEEDS_CHARS = MAX_URL_SEEDS * 23
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

K_RANGE = (5, 100)
CAP_RANGE = (0, 100)


@dataclass
class UrlState:
    """What a link asks for; a field is None where the link does not set it (or set it wrongly)."""

    seeds: list[str] | None = None          # spotify:track:<id>, in link order, no repeats
    k: int | None = None
    diversity: float | None = None
    max_per_artist: int | None = None
    model: str | None = None
    problems: list[str] = field(default_factory=list)


def parse(params) -> UrlState:
    """A ``UrlState`` from a query-parameter mapping (``st.query_params`` or a dict of str)."""
    state = UrlState()
    raw = params.get("seeds")
    if raw:
        state.seeds = _parse_seeds(str(raw), state.problems)
    state.k = _parse_int(params.get("k"), "k", K_RANGE, state.problems)
    state.max_per_artist = _parse_int(params.get("cap"), "cap", CAP_RANGE, state.problems)
    diversity = params.get("diversity")
    if diversity is not None:
        try:
            value = round(float(diversity), 1)
        except ValueError:
            value = None
        if value is None or not 0.0 <= value <= 1.0:
            state.problems.append("The link's diversity is not a number between 0 and 1; it was ignored.")
        else:
            state.diversity = value
    model = params.get("model")
    if model is not None:
        if _MODEL.fullmatch(str(model)):
            state.model = str(model)
        else:
            state.problems.append("The link's model name is malformed; it was ignored.")
    return state


def _parse_seeds(raw: str, problems: list[str]) -> list[str]:
    # The length is checked before splitting, so a megabyte of ids costs no more than a short link.
    tokens = [] if len(raw) > _MAX_SEEDS_CHARS else [t.strip() for t in raw.split(",") if t.strip()]
    if len(raw) > _MAX_SEEDS_CHARS or len(tokens) > MAX_URL_SEEDS:
        problems.append(f"The link holds more than {MAX_URL_SEEDS} track ids, the most a link may "
                        "hold, so its seeds were not loaded.")
        return []
    valid = [t for t in tokens if ids.TRACK_ID.fullmatch(t)]
    if len(valid) < len(tokens):
        bad = len(tokens) - len(valid)
        problems.append(f"{bad} of the link's {len(tokens)} seeds {'is' if bad == 1 else 'are'} not a "
                        "Spotify track id (22 letters and digits) and "
                        f"{'was' if bad == 1 else 'were'} left out.")
    return list(dict.fromkeys(ids.TRACK_PREFIX + t for t in valid))


def _parse_int(value, name: str, bounds: tuple[int, int], problems: list[str]) -> int | None:
    if value is None:
        return None
    low, high = bounds
    text = str(value)
    if len(text) <= 6 and text.isdigit() and low <= int(text) <= high:
        return int(text)
    problems.append(f"The link's {name} is not a whole number from {low} to {high}; it was ignored.")
    return None


def to_params(seed_ids, *, k: int, diversity: float, max_per_artist: int | None,
              model: str | None) -> dict[str, str]:
    """The query parameters of a state: only the seeds with a Spotify id can travel in a link
    (tracks ingested without one have a local key that no other catalog knows)."""
    spotify_ids = [sid for sid in (_spotify_id(t) for t in seed_ids) if sid][:MAX_URL_SEEDS]
    params = {"k": str(k), "diversity": f"{diversity:.1f}"}
    if spotify_ids:
        params["seeds"] = ",".join(spotify_ids)
    if max_per_artist is not None:
        params["cap"] = str(max_per_artist)
    if model:
        params["model"] = model
    return params


def _spotify_id(track_id: str) -> str | None:
    rest = track_id.removeprefix(ids.TRACK_PREFIX)
    return rest if rest != track_id and ids.TRACK_ID.fullmatch(rest) else None
