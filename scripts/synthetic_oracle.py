"""The best NDCG@500 any model can expect on a synthetic MPD: the generator's own probabilities.

    python -m scripts.synthetic_oracle /tmp/smpd_ds --n-test 1000 --n-val 300 --tracks 100000 --genres 8

``recsys.ingest.synthetic_mpd`` draws a playlist's tracks from a main genre (80%), a second genre (10%) and
the whole catalog (10%), by Zipf popularity within each genre. Knowing that process, the best
ranking for seeds S scores a track by its probability of being drawn, averaged over the posterior
of the playlist's (main, second) genres given S. No model trained on the playlists can expect
more, so this bounds what "≥ 1.05× the best baseline" can mean on such data. The split is the
standard protocol of ``python -m recsys evaluate`` with the same arguments.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence

import numpy as np

from recsys.data.dataset import load_dataset
from recsys.data.splits import standard_split
from recsys.evaluation import evaluate
from recsys.ingest.synthetic_mpd import make_catalog

MAIN, SECOND, ANYWHERE = 0.8, 0.1, 0.1  # recsys.ingest.synthetic_mpd.make_playlist_tracks' mixture


class GenerativeOracle:
    """A :class:`recsys.evaluation.Scorer` that knows the generator: ``genre_probability`` is
    genres × dataset tracks, each row a genre's draw probabilities."""

    def __init__(self, genre_probability: np.ndarray):
        self.p = genre_probability
        self.pairs = list(itertools.permutations(range(len(genre_probability)), 2))

    def score(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        n = self.p.shape[1]
        out = np.zeros((len(queries), n))
        for row, seeds in enumerate(queries):
            log_likelihood = np.array([np.log(MAIN * self.p[m, seeds] + SECOND * self.p[s, seeds]
                                              + ANYWHERE / n).sum() for m, s in self.pairs])
            posterior = np.exp(log_likelihood - log_likelihood.max())
            posterior /= posterior.sum()
            for (m, s), weight in zip(self.pairs, posterior):
                if weight > 1e-9:
                    out[row] += weight * (MAIN * self.p[m] + SECOND * self.p[s])
        return out


def genre_probabilities(track_ids, n_tracks: int, n_genres: int, seed: int) -> np.ndarray:
    """Genres × dataset tracks: the generator's draw probability of each dataset track."""
    catalog = make_catalog(n_tracks, n_genres, seed)
    number = {track.track_uri.rsplit(":", 1)[-1]: i for i, track in enumerate(catalog.tracks)}
    rows = np.array([number[str(t).rsplit(":", 1)[-1]] for t in track_ids])
    p = np.zeros((n_genres, catalog.n_tracks))
    for g, (members, cdf) in enumerate(zip(catalog.genre_tracks, catalog.genre_cdf)):
        p[g, members] = np.diff(cdf, prepend=0.0)
    return p[:, rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="a synthetic MPD ingested with python -m recsys ingest mpd")
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--n-val", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--tracks", type=int, default=100_000, help="the generator's catalog size")
    parser.add_argument("--genres", type=int, default=8)
    parser.add_argument("--catalog-seed", type=int, default=0, help="the generator's seed")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.dataset)
    split = standard_split(dataset, n_test=args.n_test, n_val=args.n_val, seed=args.seed)
    oracle = GenerativeOracle(genre_probabilities(dataset.tracks["track_id"], args.tracks, args.genres,
                                                  args.catalog_seed))
    result = evaluate(oracle, split.test, catalog=split.catalog)
    print(f"generative oracle on {len(split.test)} test playlists: NDCG@500 {result['ndcg_at_500']:.4f}  "
          f"R-precision {result['r_precision']:.4f}  NDCG@20 {result['ndcg_at_k']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
