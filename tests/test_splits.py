"""Playlist-continuation splits: deterministic, disjoint, no target leaks into train."""
import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import from_rows
from recsys.data.splits import SplitError, continuation_split


def _dataset(n_playlists=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_playlists):
        length = 3 if p % 5 == 0 else int(rng.integers(8, 20))  # every 5th playlist is too short
        for t in rng.choice(60, size=length, replace=False):
            rows.append({"playlist_id": f"p{p}", "playlist_name": f"P{p}", "name": f"t{t}",
                         "artist": f"a{t % 7}"})
    return from_rows(pd.DataFrame(rows), name="splits", source="test")


def _pairs(df):
    return set(zip(df["playlist_idx"].tolist(), df["track_idx"].tolist()))


def test_split_holds_out_targets_and_keeps_seeds():
    ds = _dataset()
    split = continuation_split(ds, n_test=6, n_val=4, n_seed=3, seed=1, min_targets=2)
    assert len(split.test) == 6 and len(split.val) == 4
    test_p = {q.playlist_idx for q in split.test}
    val_p = {q.playlist_idx for q in split.val}
    assert not test_p & val_p
    train = _pairs(split.train)
    everything = ds.interactions.sort_values(["playlist_idx", "pos"])
    for q in split.test + split.val:
        in_order = everything.loc[everything["playlist_idx"] == q.playlist_idx, "track_idx"].tolist()
        assert q.seeds.tolist() == in_order[:3]        # the first n_seed by pos
        assert q.targets.tolist() == in_order[3:]
        assert len(q.targets) >= 2
        assert all((q.playlist_idx, t) in train for t in q.seeds)
        assert not any((q.playlist_idx, t) in train for t in q.targets)
    # nothing else was removed
    n_targets = sum(len(q.targets) for q in split.test + split.val)
    assert len(split.train) == len(ds.interactions) - n_targets
    assert _pairs(ds.interactions) - train == {(q.playlist_idx, int(t))
                                               for q in split.test + split.val for t in q.targets}


def test_short_playlists_are_never_chosen():
    ds = _dataset()
    split = continuation_split(ds, n_test=10, n_val=10, n_seed=3, min_targets=2)
    lengths = ds.playlists.set_index("playlist_idx")["num_tracks"]
    assert all(lengths[q.playlist_idx] >= 5 for q in split.test + split.val)


def test_split_is_deterministic_by_seed():
    ds = _dataset()
    a = continuation_split(ds, n_test=5, n_val=5, n_seed=3, seed=7, min_targets=2)
    b = continuation_split(ds, n_test=5, n_val=5, n_seed=3, seed=7, min_targets=2)
    c = continuation_split(ds, n_test=5, n_val=5, n_seed=3, seed=8, min_targets=2)
    key = lambda s: [(q.playlist_idx, q.seeds.tolist(), q.targets.tolist()) for q in s.test + s.val]
    assert key(a) == key(b)
    assert key(a) != key(c)
    pd.testing.assert_frame_equal(a.train, b.train)


def test_too_few_eligible_playlists_is_a_clear_error():
    with pytest.raises(SplitError, match=r"only 24 playlists have at least 5 tracks"):
        continuation_split(_dataset(), n_test=20, n_val=10, n_seed=3, min_targets=2)
