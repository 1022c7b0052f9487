"""Playlist-continuation splits in the style of the RecSys Challenge 2018.

A held-out playlist keeps its first ``n_seed`` tracks (by ``pos``) as the query's seeds; the
rest are the targets a model must find. Targets are removed from the training interactions;
seeds and the playlist itself stay, so every playlist and (nearly) every track still takes part
in training. Validation and test queries come from disjoint sets of playlists.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.dataset import Dataset
from recsys.errors import RecsysError


class SplitError(RecsysError):
    """The dataset cannot provide the requested split (too few long-enough playlists)."""


@dataclass(frozen=True)
class Query:
    """One held-out playlist: its index, seed track_idx (in playlist order) and target track_idx."""
    playlist_idx: int
    seeds: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class Split:
    """``train``: the interactions (``playlist_idx, track_idx, pos``) a model may see;
    ``val`` / ``test``: the held-out queries; and the parameters that made the split."""
    train: pd.DataFrame
    val: list[Query]
    test: list[Query]
    n_seed: int
    seed: int

    def describe(self) -> dict:
        """The split's parameters and sizes, for reports."""
        return {"n_seed": self.n_seed, "seed": self.seed, "n_val": len(self.val),
                "n_test": len(self.test), "train_interactions": len(self.train),
                "mean_targets_test": float(np.mean([len(q.targets) for q in self.test])) if self.test else 0.0}


def continuation_split(dataset: Dataset, n_test: int = 100, n_val: int = 50, n_seed: int = 10,
                       seed: int = 0, min_targets: int = 5) -> Split:
    """Hold out ``n_test`` + ``n_val`` playlists chosen at random (by ``seed``) among those with
    at least ``n_seed + min_targets`` tracks.

    ``min_targets`` keeps playlists with one or two held-out tracks out of the queries: with so
    few targets R-precision is an all-or-nothing coin toss. Raises :class:`SplitError` when fewer
    playlists are eligible than asked for.
    """
    if n_seed < 1 or min_targets < 1 or n_test < 0 or n_val < 0:
        raise SplitError(f"continuation_split needs n_seed >= 1, min_targets >= 1, n_test/n_val >= 0 "
                         f"(got n_seed={n_seed}, min_targets={min_targets}, n_test={n_test}, n_val={n_val})")
    interactions = dataset.interactions.sort_values(["playlist_idx", "pos"], kind="stable")
    lengths = np.bincount(interactions["playlist_idx"], minlength=dataset.n_playlists)
    eligible = np.flatnonzero(lengths >= n_seed + min_targets)
    if len(eligible) < n_test + n_val:
        raise SplitError(
            f"dataset {dataset.name!r}: only {len(eligible)} playlists have at least "
            f"{n_seed + min_targets} tracks (n_seed={n_seed} + min_targets={min_targets}); "
            f"asked for n_test={n_test} + n_val={n_val}")
    chosen = np.random.default_rng(seed).permutation(eligible)[:n_test + n_val]
    test_playlists, val_playlists = np.sort(chosen[:n_test]), np.sort(chosen[n_test:])

    rank_in_playlist = interactions.groupby("playlist_idx", sort=False).cumcount().to_numpy()
    held_out = interactions["playlist_idx"].isin(chosen).to_numpy()
    is_target = held_out & (rank_in_playlist >= n_seed)
    tracks_by_playlist = {
        int(p): group for p, group in
        interactions.loc[held_out, ["playlist_idx", "track_idx"]].groupby("playlist_idx", sort=False)["track_idx"]
    }

    def queries(playlists: np.ndarray) -> list[Query]:
        out = []
        for p in playlists:
            track_idx = tracks_by_playlist[int(p)].to_numpy(np.int64)
            out.append(Query(int(p), track_idx[:n_seed], track_idx[n_seed:]))
        return out

    return Split(train=interactions.loc[~is_target].reset_index(drop=True),
                 val=queries(val_playlists), test=queries(test_playlists), n_seed=n_seed, seed=seed)
