"""A small hand-built artifact whose right answers are known, for any test that needs a model.

Two genres (rock, electronic), three or four artists each, three tracks per artist. Embeddings
are built so that a track's nearest neighbours are its artist's other tracks, then the rest of its
genre, then the other genre. The catalog carries accented names (Motörhead, Sigur Rós, Björk,
Beyoncé, Röyksopp) and one track named ``<img src=x onerror=alert(1)>`` to catch unescaped HTML.
Every track has a sub-genre and the eleven audio features (``audio_features=False`` leaves them
out, as for a source without them), except that the last track has no tempo.

Usage::

    from tests.fixture_artifacts import make_fixture_artifact, track_id_of
    path = make_fixture_artifact(tmp_path / "models")          # models/fixture/<version>/
    Recommender.load(path).recommend([track_id_of("Ace of Spades")])
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.artifacts import set_default_model
from recsys.training.artifact_writer import write_artifact
from recsys.data.dataset import AUDIO_FEATURES
from recsys.text import track_key

XSS_NAME = "<img src=x onerror=alert(1)>"

# genre -> artist -> (album, track names)
FIXTURE_CATALOG = {
    "rock": {
        "Motörhead": ("Ace of Spades", ["Ace of Spades", "Overkill", "Iron Fist"]),
        "Sigur Rós": ("Takk...", ["Hoppípolla", "Glósóli", "Sæglópur"]),
        "The Beatles": ("Abbey Road", ["Come Together", "Something", "Here Comes the Sun"]),
    },
    "electronic": {
        "Daft Punk": ("Discovery", ["One More Time", "Digital Love", "Aerodynamic"]),
        "Björk": ("Homogenic", ["Jóga", "Hyperballad", "Army of Me"]),
        "Röyksopp": ("Melody A.M.", ["Eple", "Poor Leno", XSS_NAME]),
        "Beyoncé": ("B'Day", ["Déjà Vu", "Irreplaceable", "Upgrade U"]),
    },
}
DIM = 16


def fixture_catalog(audio_features: bool = True, local_names=()) -> pd.DataFrame:
    """The catalog, one row per track, with Spotify-style URIs (22 characters, as real ids) and
    varied popularity; the tracks named in ``local_names`` get a local key instead (``local:…``,
    as tracks ingested without a Spotify id)."""
    rows = []
    for genre, artists in FIXTURE_CATALOG.items():
        for artist, (album, names) in artists.items():
            artist_no = len({r["artist"] for r in rows})
            for name in names:
                i = len(rows)
                rows.append({
                    "track_id": (track_key(name, artist) if name in local_names
                                 else f"spotify:track:{i:022d}"),
                    "name": name,
                    "artist": artist,
                    "album": album,
                    "artist_id": f"spotify:artist:{artist_no:022d}",
                    # Distinct, non-monotonic counts so "popular" has one right order.
                    "n_playlists": 5 + (i * 7) % 23,
                    "genre": genre,
                    "popularity": float((i * 13) % 100),
                    "release_year": 1970 + 2 * i,
                    "subgenre": f"{genre} {'classic' if i % 2 else 'new'}",
                })
    catalog = pd.DataFrame(rows)
    if audio_features:
        i, n = np.arange(len(catalog)), len(catalog)
        steps = [m for m in range(2, 4 * n) if np.gcd(m, n) == 1]  # each a permutation of 0..n-1
        for step, feature in zip(steps, AUDIO_FEATURES):  # distinct, spread values in [0, 1]
            catalog[feature] = ((i * step) % n / (n - 1)).astype(np.float32)
        catalog["tempo"] = (80.0 + 4.5 * ((i * 5) % n)).astype(np.float32)
        catalog["loudness"] = (-20.0 + ((i * 3) % 18)).astype(np.float32)
        catalog["key"], catalog["mode"] = (i % 12).astype(np.float32), (i % 2).astype(np.float32)
        catalog.loc[len(catalog) - 1, "tempo"] = np.nan
    return catalog


def fixture_embeddings(catalog: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """genre direction + 0.8 × artist direction + 0.12 × a track's own noise (not normalised)."""
    rng = np.random.default_rng(seed)
    genres = {g: i for i, g in enumerate(FIXTURE_CATALOG)}
    artists = {a: i for i, a in enumerate(dict.fromkeys(catalog["artist"]))}
    vectors = np.zeros((len(catalog), DIM), dtype=np.float32)
    for row, (genre, artist) in enumerate(zip(catalog["genre"], catalog["artist"])):
        vectors[row, genres[genre]] = 1.0
        vectors[row, 2 + artists[artist]] = 0.8
    vectors += 0.12 * rng.standard_normal(vectors.shape).astype(np.float32) * (np.arange(DIM) >= 9)
    return vectors


def track_id_of(name: str, local_names=()) -> str:
    catalog = fixture_catalog(local_names=local_names)
    return catalog.loc[catalog["name"] == name, "track_id"].item()


def make_fixture_artifact(models_dir: str | Path, model: str = "fixture", *, dtype: str = "float32",
                          make_current: bool = True, make_default: bool = True,
                          version: str | None = None, seed: int = 0, audio_features: bool = True,
                          local_names=()) -> Path:
    """Publish the fixture catalog as ``models_dir/<model>/<version>`` and return that path."""
    catalog = fixture_catalog(audio_features, local_names)
    curves = [{"epoch": e, "train_loss": 0.7 / e, "val_recall@20": 0.1 * e, "val_ndcg@20": 0.05 * e,
               "seconds": 0.01} for e in (1, 2, 3)]
    path = write_artifact(
        models_dir, model,
        embeddings=fixture_embeddings(catalog, seed),
        catalog=catalog,
        curves=curves,
        config={"model": model, "dim": DIM, "epochs": 3, "seed": seed},
        dataset_meta={"name": "fixture", "fingerprint": "fixture", "counts": {"tracks": len(catalog)}},
        metrics={"ndcg@20": 0.5, "recall@20": 0.6},
        dtype=dtype,
        make_current=make_current,
        version=version,
    )
    if make_default:
        set_default_model(models_dir, model)
    return path
