"""Which artifact this browser session is served from, and the cached recommenders.

Every artifact version is loaded (and its checksums verified) once per server process into a
bounded module-level cache keyed by (models directory, model, version) and checked against the
digest of its manifest, so switching versions needs no restart and a re-published directory is
never served from a stale cache. A session keeps only (model, version), never the Recommender:
memory stays at ``LOADED_ARTIFACTS`` models whatever clients do. (Not ``st.cache_resource``:
any websocket client can clear that with Streamlit's ``clear_cache`` message, and sessions that
pinned their own copy would then hold one model each.)
A version that fails to load is reported with the reason and the session falls back to another
loadable one; the picker keeps offering every version.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from recsys import artifacts
from recsys.paths import models_dir
from recsys.app import album_art, describe, state, streamlit_compat
from recsys.app.tables import code_span, escape_markdown
from recsys.errors import RecsysError
from recsys.serving import Recommender


# Every page imports this module; a run in Streamlit's legacy pages mode starts at the page file.
streamlit_compat.leave_legacy_pages_mode()

def artifact_rows() -> list[dict]:
    """Every version in the models directory (``artifacts.list_artifacts``), for the pages."""
    return artifacts.list_artifacts(models_dir())


# At most this many artifacts stay loaded (least recently used go first): at full-MPD scale one
# holds hundreds of MB of vectors and index.
LOADED_ARTIFACTS = 4


class _LoadedArtifacts:
    """The most recently used ``capacity`` recommenders, shared by all sessions of the process.
    Loads are serialised (two sessions asking for the same new version load it once); hits
    never wait for a load."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._entries: OrderedDict[tuple, tuple[str, Recommender]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def _hit(self, key: tuple, digest: str) -> Recommender | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != digest:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def get(self, key: tuple, digest: str, load) -> Recommender:
        """The recommender under ``key`` loaded from a manifest with ``digest``; ``load()`` when
        it is missing or was loaded from another manifest (a re-published directory)."""
        recommender = self._hit(key, digest)
        if recommender is not None:
            return recommender
        with self._loading:
            recommender = self._hit(key, digest)
            if recommender is None:
                recommender = load()
                with self._lock:
                    self._entries[key] = (digest, recommender)
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
        return recommender

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


_LOADED = _LoadedArtifacts(LOADED_ARTIFACTS)


def load_recommender(path: str | os.PathLike) -> Recommender:
    """The (cached) ``Recommender`` of the artifact directory ``path``; raises ``RecsysError``."""
    path = Path(path)
    try:
        digest = hashlib.sha256((path / artifacts.MANIFEST).read_bytes()).hexdigest()
    except OSError as exc:
        raise artifacts.ArtifactError(f"{path / artifacts.MANIFEST}: unreadable ({exc})") from exc
    key = (str(path.resolve().parent.parent), path.parent.name, path.name)  # (models dir, model, version)

    def load() -> Recommender:
        with st.spinner("Loading the model…"):
            return Recommender.load(path, models_dir())
    return _LOADED.get(key, digest, load)


@st.cache_data(max_entries=64)
def curves(path: str) -> pd.DataFrame:
    """The per-epoch record (curves.csv) of the artifact directory ``path``, read without loading
    the artifact; ``ArtifactError`` names the file when it is missing or unreadable."""
    return artifacts.read_curves(path)


@dataclass(frozen=True)
class Served:
    """The artifact this run serves and its loaded ``Recommender``."""

    model: str
    version: str
    recommender: Recommender

    @property
    def label(self) -> str:
        return version_label(self.model, self.version)

    def catalog_rows(self, track_ids) -> np.ndarray:
        """Catalog rows of ``track_ids`` (-1 for ids not in the catalog)."""
        return self.recommender.catalog_rows(track_ids)


def version_label(model: str, version: str) -> str:
    """How the app names a version of a model (the sidebar's choice, the Training page's series)."""
    return f"{model} / {version}"


def _versions_by_model(rows: list[dict]) -> dict[str, list[dict]]:
    by_model: dict[str, list[dict]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    for versions in by_model.values():
        versions.sort(key=lambda r: r["version"], reverse=True)  # newest first
    return by_model


def pick_and_load() -> Served | None:
    """Draw the sidebar model/version picker and load the picked artifact (called by the
    entrypoint on every run, before the page). On failure, show why and serve the next loadable
    version (same model first, then the default model, then the others). None when nothing loads."""
    root = models_dir()
    by_model = _versions_by_model(artifacts.list_artifacts(root))
    state.set_served(None)
    if not by_model:
        return None
    default = artifacts.default_model(root)
    models = sorted(by_model, key=lambda m: (m != default, m))
    if state.picked_model() is None and st.query_params.get("model") in by_model:
        state.set_picked_model(st.query_params["model"])  # a shared Recommend link
    model = st.sidebar.selectbox("Model", models, key=state.MODEL, on_change=state.forget_picked_version,
                                 format_func=lambda m: f"{m} (default)" if m == default else m)
    versions = by_model[model]
    current = next((i for i, r in enumerate(versions) if r.get("current")), 0)
    names = [r["version"] for r in versions]
    if state.picked_version() not in names:
        state.set_picked_version(names[current])
    st.sidebar.caption(escape_markdown(describe.model_description(model)))
    st.sidebar.selectbox("Version", names, key=state.VERSION,
                         format_func=lambda v: describe.version_label(v)
                         + (" (current)" if v == names[current] else ""),
                         help="Versions by the date they were trained.")
    picked = next(r for r in versions if r["version"] == state.picked_version())

    candidates = [picked] + [r for r in versions if r is not picked]
    for other in models:
        if other != model:
            candidates += by_model[other]
    for row in candidates:
        try:
            recommender = load_recommender(row["path"])
        except RecsysError as exc:
            st.error(f"Model **{escape_markdown(row['model'])} / {escape_markdown(row['version'])}** "
                     f"could not be loaded: {escape_markdown(exc)}", icon="⚠️")
            continue
        served = Served(row["model"], row["version"], recommender)
        if row is not picked:
            st.warning(f"Serving **{escape_markdown(served.label)}** instead. Pick another version "
                       "in the sidebar, or rebuild the models with `make models`.")
        state.set_served(served.model, served.version)
        return served
    return None


@st.cache_resource
def _album_art(base_url: str) -> album_art.AlbumArt:
    return album_art.AlbumArt(base_url)


def album_art_thumbnails(spotify_ids) -> dict[str, str]:
    """Thumbnail URLs by Spotify id from the oEmbed endpoint (``recsys.app.album_art``), one
    cache per server; at most ~0.25 s of waiting per call, empty when art is switched off."""
    base_url = album_art.oembed_url()
    return _album_art(base_url).thumbnails(spotify_ids) if base_url else {}


def served() -> Served | None:
    """The artifact the entrypoint loaded for this run (None if no model could be loaded)."""
    key = state.served_key()
    if key is None:
        return None
    model, version = key
    return Served(model, version, load_recommender(models_dir() / model / version))


def require_served() -> Served:
    """``served()``, or a helpful message and the end of the page when there is no model."""
    current = served()
    if current is None:
        st.info(f"No model to serve in {code_span(models_dir())}. Build the default models "
                "with `make models`, or point `RECSYS_MODELS_DIR` at a models directory.")
        st.stop()
    return current
