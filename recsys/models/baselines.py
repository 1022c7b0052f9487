"""Non-neural baselines for playlist continuation (numpy, scipy and implicit; no torch).

Every baseline has the same two verbs, like implicit's models::

    model = ItemKNN().fit(R, dataset)      # R: playlists × tracks training matrix (recsys.data.graph)
    scores = model.score([seeds, ...])     # (n_queries, n_tracks), higher is better

so it is a :class:`recsys.evaluation.Scorer`. Each class lists the hyper-parameters the evaluation
harness tunes on the validation queries in ``param_grid``. Scores carry a popularity term far
smaller than any real score difference, so tracks a model cannot tell apart are ranked by
popularity instead of by index.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.errors import RecsysError
from recsys.data.graph import side_blocks

# Small enough never to reorder two different model scores (float64), large enough to order ties.
_POPULARITY_TIE_BREAK = 1e-9
# Tracks per block when EASE's Woodbury form computes diag(P): bounds a dense playlists × block array.
_EASE_COLUMN_CHUNK = 4096


def seed_matrix(queries: Sequence[np.ndarray], n_tracks: int) -> sp.csr_matrix:
    """Queries × tracks binary matrix with a 1 for every seed."""
    indptr = np.concatenate([[0], np.cumsum([len(s) for s in queries])])
    indices = np.concatenate([np.asarray(s, dtype=np.int64) for s in queries]) if len(queries) else []
    return sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                         shape=(len(queries), n_tracks))


class Baseline:
    """Shared plumbing: training popularity for tie-breaking, and the ``param_grid`` contract."""

    param_grid: tuple[dict, ...] = ({},)

    def fit(self, R: sp.spmatrix, dataset: Dataset | None = None) -> "Baseline":
        R = sp.csr_matrix(R, dtype=np.float32)
        self.n_tracks = R.shape[1]
        counts = np.asarray(R.sum(axis=0), dtype=np.float64).ravel()
        self.popularity = counts / max(1.0, counts.max())
        self._fit(R, dataset)
        return self

    def score(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        return self._score(seed_matrix(queries, self.n_tracks)) + _POPULARITY_TIE_BREAK * self.popularity

    def _fit(self, R: sp.csr_matrix, dataset: Dataset | None) -> None:
        pass

    def _score(self, seeds: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError


class Popularity(Baseline):
    """The tracks in the most training playlists, whatever the seeds."""

    def _score(self, seeds):
        return np.zeros(seeds.shape, dtype=np.float64)


class ItemKNN(Baseline):
    """Item-based nearest neighbours: a track's score is the sum of its cosine similarities to the
    seeds, a track being described by the playlists it is in.

    With ``artist_weight`` / ``album_weight`` > 0 a track is also described by its artist (album),
    with that weight, so two tracks by the same artist count as co-occurring even when they share
    no playlist: on data where most tracks are in a single playlist this carries much of the
    signal. Weights 0 (the default) give the classic co-occurrence cosine.
    """

    def __init__(self, artist_weight: float = 0.0, album_weight: float = 0.0):
        self.artist_weight = artist_weight
        self.album_weight = album_weight

    def _fit(self, R, dataset):
        # Track profiles as columns: playlists, then weighted artist / album indicator rows.
        rows = [R]
        side = [(c, w) for c, w in (("artist_id", self.artist_weight), ("album_id", self.album_weight)) if w > 0]
        if side:
            if dataset is None:
                raise RecsysError("ItemKNN with artist/album weights needs the dataset's tracks table")
            blocks = side_blocks(dataset.tracks, columns=[c for c, _ in side])
            rows += [w * b.T for (_, w), b in zip(side, blocks)]
        profiles = sp.vstack(rows, format="csc", dtype=np.float64)
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=0)).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        # Σ_seeds cos(seed, t) = (Σ_seeds p̂_seed) · p̂_t: no tracks × tracks matrix is needed.
        self.profiles = (profiles @ sp.diags(inverse)).tocsr()

    def _score(self, seeds):
        summed = self.profiles @ seeds.T.astype(np.float64)        # features × queries
        return np.asarray((self.profiles.T @ summed).T.todense())


class ArtistItemKNN(ItemKNN):
    """:class:`ItemKNN` over playlist + artist (+ album) co-occurrence; weights tuned on validation.

    The grid includes weight 0: where playlists already link tracks densely (the synthetic MPD)
    tuning may fall back to plain co-occurrence rather than force artist links."""

    param_grid = tuple({"artist_weight": a, "album_weight": b}
                       for a in (0.0, 0.5, 1.0, 2.0, 4.0) for b in (0.0, 0.5, 1.0))

    def __init__(self, artist_weight: float = 0.5, album_weight: float = 0.5):
        super().__init__(artist_weight, album_weight)


class EASE(Baseline):
    """EASE (Steck, WWW 2019): the item-item weights ``B = I - P diag(1/diag P)`` with
    ``P = (XᵀX + λI)⁻¹``, a zero diagonal, closed form; a query scores ``seeds · B``.

    The inverse is exact without a tracks × tracks matrix when playlists are fewer than tracks
    (the embedded data: 449 × 26k, where the dense item inverse would need 2.7 GB): by the Woodbury
    identity ``P = (I - Xᵀ (λI + XXᵀ)⁻¹ X) / λ``, a playlists × playlists inverse. Otherwise the
    dense item-side inverse is used. Either inverse is limited to ``max_dense`` rows; beyond that
    EASE is restricted to the ``max_dense`` most popular tracks (the others score 0) and
    ``restricted`` says so.
    """

    param_grid = tuple({"l2": lam} for lam in (5.0, 50.0, 200.0, 1000.0))

    def __init__(self, l2: float = 50.0, max_dense: int = 10_000):
        self.l2 = l2
        self.max_dense = max_dense

    def _fit(self, R, dataset):
        n_playlists, n_tracks = R.shape
        self.items = np.arange(n_tracks)
        self.restricted = min(n_playlists, n_tracks) > self.max_dense
        if self.restricted:
            self.items = np.sort(np.argsort(-self.popularity, kind="stable")[:self.max_dense])
        X = R[:, self.items].astype(np.float64)
        if X.shape[0] < X.shape[1]:
            gram = (X @ X.T).toarray()
            gram[np.diag_indices_from(gram)] += self.l2
            inner = np.linalg.inv(gram)
            self._X, self._inner = X.tocsr(), inner
            # diag(Xᵀ M X)_j = Σ_i X_ij (M X)_ij, M symmetric; by column chunks so the dense
            # (M X) block stays small however many tracks there are.
            X_by_column = X.tocsc()
            quadratic = np.concatenate([
                np.asarray(chunk.multiply((chunk.T @ inner).T).sum(axis=0)).ravel()
                for chunk in (X_by_column[:, i:i + _EASE_COLUMN_CHUNK]
                              for i in range(0, X.shape[1], _EASE_COLUMN_CHUNK))])
            diag_P = (1.0 - quadratic) / self.l2
            self._B = None
        else:
            gram = (X.T @ X).toarray()
            gram[np.diag_indices_from(gram)] += self.l2
            P = np.linalg.inv(gram)
            diag_P = np.diag(P).copy()
            self._B = -P / diag_P
            np.fill_diagonal(self._B, 0.0)
        self._diag_P = diag_P

    def _score(self, seeds):
        U = seeds[:, self.items].astype(np.float64)
        if self._B is not None:
            restricted_scores = np.asarray(U @ self._B)
        else:
            # u P = (u - (u Xᵀ) M X) / λ; the seed's own term (B's zero diagonal) is dropped by
            # the harness, which never ranks seeds.
            through_playlists = np.asarray((U @ self._X.T) @ self._inner)      # queries × playlists
            uP = (U.toarray() - (self._X.T @ through_playlists.T).T) / self.l2
            restricted_scores = -np.asarray(uP) / self._diag_P
        scores = np.zeros((seeds.shape[0], self.n_tracks))
        scores[:, self.items] = restricted_scores
        return scores


class ALS(Baseline):
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) by ``implicit``'s CPU
    ALS. A query's playlist factor is solved from its seeds alone (``recalculate_user``), as for
    a playlist the model has never seen."""

    param_grid = tuple({"regularization": r, "alpha": a} for r in (0.01, 0.1) for a in (1.0, 20.0))

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 20.0,
                 iterations: int = 15, random_state: int = 0):
        self.params = dict(factors=factors, regularization=regularization, alpha=alpha,
                           iterations=iterations, random_state=random_state)

    def _fit(self, R, dataset):
        from implicit.cpu.als import AlternatingLeastSquares  # keeps `import recsys.models.baselines` light
        from threadpoolctl import threadpool_limits

        # implicit parallelises itself; a BLAS thread pool underneath it only oversubscribes.
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(**self.params)
            self.model.fit(R, show_progress=False)

    def _score(self, seeds):
        factors = self.model.recalculate_user(np.arange(seeds.shape[0]), seeds)
        return (factors @ self.model.item_factors.T).astype(np.float64)


class PygLightGCN(Baseline):
    """PyG's stock ``torch_geometric.nn.models.LightGCN`` (He et al., SIGIR 2020) trained the way
    PyG's own example does: BPR over playlist–track edges with one random negative each, Adam,
    full-graph propagation, for ``seconds`` of wall clock (the budget every GNN is compared at).
    A query is the mean of its seeds' final embeddings, scored by inner product (fold-in)."""

    def __init__(self, embedding_dim: int = 64, num_layers: int = 2, lr: float = 0.01, batch_size: int = 8192,
                 seconds: float = 45.0, seed: int = 0):
        self.params = dict(embedding_dim=embedding_dim, num_layers=num_layers)
        self.lr, self.batch_size, self.seconds, self.seed = lr, batch_size, seconds, seed

    def _fit(self, R, dataset):
        import time

        import torch  # lazily: `import recsys.models.baselines` stays torch-free
        from torch_geometric.nn.models import LightGCN

        torch.manual_seed(self.seed)
        coo = R.tocoo()
        n_playlists, n_tracks = R.shape
        playlists = torch.from_numpy(coo.row.astype(np.int64))
        tracks = torch.from_numpy(coo.col.astype(np.int64)) + n_playlists
        edge_index = torch.stack([torch.cat([playlists, tracks]), torch.cat([tracks, playlists])])
        model = LightGCN(n_playlists + n_tracks, **self.params)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        deadline, self.steps = time.perf_counter() + self.seconds, 0
        while time.perf_counter() < deadline:
            batch = torch.randint(0, len(playlists), (min(self.batch_size, len(playlists)),))
            negatives = torch.randint(n_playlists, n_playlists + n_tracks, (len(batch),))
            index = torch.stack([torch.cat([playlists[batch], playlists[batch]]),
                                 torch.cat([tracks[batch], negatives])])
            ranks = model(edge_index, index)
            loss = model.recommendation_loss(ranks[:len(batch)], ranks[len(batch):], node_id=index.unique())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.steps += 1
        with torch.no_grad():
            self.track_embeddings = model.get_embedding(edge_index)[n_playlists:].numpy().astype(np.float64)

    def _score(self, seeds):
        counts = np.maximum(np.asarray(seeds.sum(axis=1)), 1.0)
        query = np.asarray(seeds @ self.track_embeddings) / counts
        return query @ self.track_embeddings.T


BASELINES: dict[str, type[Baseline]] = {
    "popularity": Popularity,
    "itemknn": ItemKNN,
    "itemknn_artist": ArtistItemKNN,
    "ease": EASE,
    "als": ALS,
    "pyg_lightgcn": PygLightGCN,
}
