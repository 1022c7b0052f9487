"""Map tracks from elsewhere (a Spotify user's liked tracks, a pasted list) onto the catalog:
by Spotify id/URI first (``recsys.spotify.ids``), then by normalised name + artist (``recsys.text.track_key``, the key
ingest gives tracks that have no URI)."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.spotify.ids import track_uri
from recsys.text import track_key

ID_FIELDS = ("uri", "track_id", "spotify_id", "id", "url")


@dataclass(frozen=True)
class ExternalMatch:
    """``matched``: one row per matched input (input_index, input_name, input_artist, track_id,
    name, artist, matched_by = "spotify_id" | "name_artist"); ``unmatched``: the inputs not found."""

    matched: pd.DataFrame
    unmatched: list[dict] = field(default_factory=list)

    @property
    def n_input(self) -> int:
        return len(self.matched) + len(self.unmatched)

    @property
    def match_rate(self) -> float:
        return len(self.matched) / self.n_input if self.n_input else 0.0

    @property
    def track_ids(self) -> list[str]:
        """The matched catalog ids, in input order, without repeats (ready to use as seeds)."""
        return list(dict.fromkeys(self.matched["track_id"]))


class CatalogMatcher:
    """Looks external tracks up in a catalog (built once, safe to share between threads)."""

    def __init__(self, catalog: pd.DataFrame, row_of_id: Mapping[str, int]):
        self._catalog = catalog
        self._row_of_id = row_of_id
        self._by_key: dict[str, int] | None = None
        self._lock = threading.Lock()

    def _key_index(self) -> dict[str, int]:
        with self._lock:
            if self._by_key is None:
                # Several catalog rows can share name + artist: keep the most-played one.
                order = np.argsort(-self._catalog["n_playlists"].to_numpy(), kind="stable")
                keys = [track_key(n, a) for n, a in zip(self._catalog["name"].to_numpy()[order],
                                                        self._catalog["artist"].to_numpy()[order])]
                by_key = {}
                for key, row in zip(keys, order.tolist()):
                    by_key.setdefault(key, row)
                self._by_key = by_key
            return self._by_key

    def match(self, tracks: pd.DataFrame | Iterable[Mapping]) -> ExternalMatch:
        """``tracks``: a DataFrame or dicts with any of uri/track_id/spotify_id/id/url, and
        name + artist (a string) or artists (Spotify's list of names or of {"name": ...})."""
        records = tracks.to_dict("records") if isinstance(tracks, pd.DataFrame) else list(tracks)
        matched, unmatched = [], []
        for position, record in enumerate(records):
            if not isinstance(record, Mapping):
                unmatched.append({"input_index": position, "value": record})
                continue
            record = {k: v for k, v in record.items() if not _missing(v)}  # DataFrame rows hold NaN
            name, artists = record.get("name"), _artists(record)
            row, how = self._find(record, name, artists)
            if row is None:
                unmatched.append({"input_index": position, **record})
                continue
            matched.append({"input_index": position, "input_name": name,
                            "input_artist": ", ".join(artists), "track_id": self._catalog["track_id"].iat[row],
                            "name": self._catalog["name"].iat[row], "artist": self._catalog["artist"].iat[row],
                            "matched_by": how})
        columns = ["input_index", "input_name", "input_artist", "track_id", "name", "artist", "matched_by"]
        return ExternalMatch(pd.DataFrame(matched, columns=columns), unmatched)

    def _find(self, record: Mapping, name, artists: list[str]) -> tuple[int | None, str | None]:
        for field_name in ID_FIELDS:
            uri = track_uri(record.get(field_name))
            if uri is not None:
                row = self._row_of_id.get(uri)
                if row is not None:
                    return row, "spotify_id"
        if name and artists:
            by_key = self._key_index()
            for artist in (", ".join(artists), *artists):
                row = by_key.get(track_key(name, artist))
                if row is not None:
                    return row, "name_artist"
        return None, None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _artists(record: Mapping) -> list[str]:
    if record.get("artist"):
        return [str(record["artist"])]
    found = record.get("artists") or []
    if isinstance(found, str):
        return [found]
    return [str(a.get("name", "")) if isinstance(a, Mapping) else str(a) for a in found if a]
