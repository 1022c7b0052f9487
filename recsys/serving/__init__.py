"""Torch-free serving: ``Recommender`` over a published artifact (faiss index, track search,
external matching). Imports numpy, pandas, faiss and rapidfuzz only."""
from recsys.serving.matching import ExternalMatch
from recsys.serving.recommender import Recommendations, RecommendError, Recommender

__all__ = ["ExternalMatch", "Recommendations", "RecommendError", "Recommender"]
