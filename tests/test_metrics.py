"""Ranking metrics against values computed by hand on tiny perfect / no-hit / mixed cases."""
import math

import pytest

from recsys.metrics import (clicks, coverage, hit_rate_at_k, ndcg_at_k, precision_at_k, r_precision,
                            recall_at_k)

PERFECT = ([1, 2, 3, 9, 8], {1, 2, 3})
NO_HIT = ([7, 8, 9, 10], {1, 2})
# targets {1, 2, 3}; hits at ranks 2 and 4
MIXED = ([5, 1, 6, 3, 7], {1, 2, 3})


def test_r_precision():
    assert r_precision(*PERFECT) == 1.0
    assert r_precision(*NO_HIT) == 0.0
    assert r_precision(*MIXED) == pytest.approx(1 / 3)  # top 3 = [5, 1, 6]: one hit of 3


def test_precision_recall_hit_rate():
    assert precision_at_k(*PERFECT, k=5) == pytest.approx(3 / 5)
    assert recall_at_k(*PERFECT, k=2) == pytest.approx(2 / 3)
    assert recall_at_k(*MIXED, k=4) == pytest.approx(2 / 3)
    assert precision_at_k(*MIXED, k=4) == pytest.approx(2 / 4)
    assert recall_at_k(*NO_HIT, k=4) == 0.0
    assert hit_rate_at_k(*MIXED, k=1) == 0.0
    assert hit_rate_at_k(*MIXED, k=2) == 1.0
    assert hit_rate_at_k(*NO_HIT, k=4) == 0.0


def test_ndcg():
    assert ndcg_at_k(*PERFECT, k=5) == pytest.approx(1.0)
    assert ndcg_at_k(*NO_HIT, k=4) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(*MIXED, k=5) == pytest.approx(dcg / idcg)
    # k larger than the list: missing ranks simply add nothing
    assert ndcg_at_k([1], {1, 2}, k=10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_clicks():
    assert clicks(*PERFECT) == 0
    ranked = list(range(100, 600))
    assert clicks(ranked, {100 + 9}) == 0    # index 9: still on the first page
    assert clicks(ranked, {100 + 10}) == 1   # index 10: one click
    assert clicks(ranked, {100 + 499}) == 49
    assert clicks(ranked, {5}) == 51        # not in the first 500
    assert clicks(ranked + [5], {5}) == 51  # index 500 is past the 500 that count


def test_coverage():
    assert coverage([[0, 1], [1, 2]], n_tracks=10) == pytest.approx(0.3)
    assert coverage([], n_tracks=10) == 0.0


def test_empty_targets_are_refused():
    with pytest.raises(ValueError, match="at least one target"):
        r_precision([1, 2], set())
