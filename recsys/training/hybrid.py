"""The default recipe: LightGCN embeddings + item and playlist neighbourhoods, blended on validation.

``fit_hybrid`` computes what the served :class:`recsys.serving.continuation.ContinuationRanker`
reads — item neighbourhoods (:mod:`recsys.models.neighbourhoods`), the training playlists of
every track and the tracks of every playlist — from the training interactions only, then picks
the :class:`Blend` with the best validation NDCG@500 in ``BLEND_SPACE``. The harness scores the
result with the serving code itself (:class:`recsys.evaluation.RankerScorer`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import HEADLINE, RankerScorer, tune_coordinates
from recsys.data.graph import interaction_matrix
from recsys.models.neighbourhoods import item_neighbourhoods
from recsys.scoring import l2_normalize
from recsys.serving.continuation import Blend, ContinuationRanker, song_codes
from recsys.serving.index import VectorIndex
from recsys.data.splits import Split
from recsys.training.trainer import TrainResult

# The GNN whose embeddings the hybrid blends in.
EMBEDDING_MODEL = "lightgcn"
# Neighbours stored per track: on the embedded data 200 scores as 1,000 (validation NDCG@500)
# at a fifth of the storage (6 bytes per neighbour: int32 row + float16 cosine).
NEIGHBOURS = 200
# Artist and album weights of the item profiles, as tuned for ItemKNN+artist on the embedded data.
ARTIST_WEIGHT, ALBUM_WEIGHT = 1.0, 0.5
# Searched on validation by coordinate ascent from Blend's defaults; the rest keeps its defaults.
# The embedding weight stays > 0: the GNN also decides which seed a track is "because" of.
BLEND_SPACE = {
    "playlist": (0.5, 1.0, 2.0, 4.0),
    "playlist_neighbours": (50, 200),
    "playlist_power": (1.0, 2.0),
    "embedding": (0.1, 0.3, 0.6),
    "fusion": (0.0, 0.5),
    "popularity": (0.02, 0.05, 0.1),
}


@dataclass
class HybridModel:
    """What the hybrid artifact stores: ``arrays`` (Artifact.arrays), the blend, and the GNN
    whose embeddings it blends in (its ``TrainResult``: embeddings, curves, config)."""

    arrays: dict[str, np.ndarray]
    gnn: TrainResult
    blend: Blend
    seconds: float  # the GNN's training plus the neighbourhoods and the blend search
    trials: list[dict]

    @property
    def embeddings(self) -> np.ndarray:
        return self.gnn.embeddings

    @property
    def config(self) -> dict:
        return {"blend": self.blend.to_dict(), "embedding_model": self.gnn.config,
                "neighbours": NEIGHBOURS, "artist_weight": ARTIST_WEIGHT, "album_weight": ALBUM_WEIGHT}

    def ranker(self) -> ContinuationRanker:
        """The served ranker over these arrays, with an exact embedding index."""
        return make_ranker(self.arrays, self.embeddings, self.blend)


def hybrid_arrays(dataset: Dataset, split: Split, *, progress: bool = False) -> dict[str, np.ndarray]:
    """Neighbourhoods and playlist lists from ``split.train`` (never a held-out target)."""
    R = interaction_matrix(split.train, dataset.n_playlists, dataset.n_tracks).tocsr()
    R.sort_indices()
    by_track = sp.csr_matrix(R.T)
    by_track.sort_indices()
    neighbourhoods = item_neighbourhoods(R, dataset.tracks, size=NEIGHBOURS, artist_weight=ARTIST_WEIGHT,
                                         album_weight=ALBUM_WEIGHT, progress=progress)
    return {
        "neighbours": neighbourhoods.rows,
        "neighbour_weights": neighbourhoods.weights.astype(np.float16),
        "track_playlists_indptr": by_track.indptr.astype(np.int64),
        "track_playlists": by_track.indices.astype(np.int32),
        "playlist_tracks_indptr": R.indptr.astype(np.int64),
        "playlist_tracks": R.indices.astype(np.int32),
        "n_playlists": np.diff(by_track.indptr).astype(np.int32),
        "song_codes": song_codes(dataset.tracks["name"], dataset.tracks["artist"]),
    }


def make_ranker(arrays: dict[str, np.ndarray], embeddings: np.ndarray, blend: Blend) -> ContinuationRanker:
    vectors = l2_normalize(embeddings)
    index = VectorIndex.build(vectors)

    def nearest(query, n):
        found = index.search(query, n)
        return found.rows, found.scores

    artist_codes = arrays.get("artist_codes")
    return ContinuationRanker(
        **{name: arrays[name] for name in ("neighbours", "neighbour_weights", "track_playlists_indptr",
                                           "track_playlists", "playlist_tracks_indptr", "playlist_tracks")},
        embeddings=vectors, n_playlists=arrays["n_playlists"], song_codes=arrays["song_codes"],
        artist_codes=artist_codes, nearest=nearest, blend=blend)


def fit_hybrid(dataset: Dataset, split: Split, gnn: TrainResult, *, k: int = 20,
               progress: bool = False) -> HybridModel:
    """Build the hybrid's arrays from ``split.train`` and tune its blend on ``split.val``, over
    the embeddings of ``gnn`` (trained on the same split)."""
    began = time.perf_counter()
    embeddings = gnn.embeddings
    arrays = hybrid_arrays(dataset, split, progress=progress)
    arrays["artist_codes"] = pd.factorize(dataset.tracks["artist_id"])[0].astype(np.int32)
    base = Blend()

    def scorer(params: dict) -> RankerScorer:
        return RankerScorer(make_ranker(arrays, embeddings, replace(base, **params)), split.catalog)

    best, trials = (tune_coordinates(scorer, BLEND_SPACE, {}, split.val, k, catalog=split.catalog)
                    if split.val else ({}, []))
    arrays.pop("artist_codes")  # serving derives them from the catalog
    return HybridModel(arrays, gnn, replace(base, **best), gnn.seconds + time.perf_counter() - began,
                       [{"params": t["params"], HEADLINE: t[HEADLINE]} for t in trials])

