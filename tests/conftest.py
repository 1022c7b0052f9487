"""Shared fixtures. Each engineer adds their own below; keep them small and deterministic."""
import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import from_rows


def two_genre_rows(n_playlists_per_genre: int = 20, tracks_per_genre: int = 30, playlist_length: int = 12,
                   seed: int = 0) -> pd.DataFrame:
    """A "checkerboard" of two disjoint genres: playlists of genre A hold only A's tracks (by A's
    three artists), likewise B, so a model given A seeds must answer with A tracks."""
    rng = np.random.default_rng(seed)
    rows = []
    for genre in ("A", "B"):
        for p in range(n_playlists_per_genre):
            for t in rng.choice(tracks_per_genre, size=playlist_length, replace=False):
                rows.append({"playlist_id": f"{genre}{p}", "playlist_name": f"{genre} mix {p}",
                             "name": f"{genre} song {t}", "artist": f"{genre} artist {t % 3}",
                             "album": f"{genre} album {t % 6}", "genre": genre, "playlist_genre": genre})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def two_genre_dataset():
    return from_rows(two_genre_rows(), name="two_genres", source="test")


@pytest.fixture
def fake_spotify():
    """A fake Spotify accounts service + Web API on 127.0.0.1 (tests/fake_spotify.py), with the
    demo world: users alice and bob (different liked tracks), carol and dave (public playlists)."""
    from tests.fake_spotify import FakeSpotify

    with FakeSpotify() as fake:
        yield fake


@pytest.fixture
def fixture_artifact(tmp_path):
    """The hand-built two-genre artifact (tests/fixture_artifacts.py), published as the current
    version of model "fixture" and the default model in ``tmp_path / "models"``: its path."""
    from tests.fixture_artifacts import make_fixture_artifact

    return make_fixture_artifact(tmp_path / "models")


@pytest.fixture(scope="session")
def recsys_cli():
    """Run ``python -m recsys ARGS...`` from the project root; returns the CompletedProcess (text)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def run(*args, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "recsys", *map(str, args)], cwd=root,
                              capture_output=True, text=True, timeout=timeout)
    return run
