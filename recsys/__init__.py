"""recsys: playlist continuation with graph neural networks.

The serving surface (``Recommender``) is importable without torch; training code lives in
``recsys.models`` and ``recsys.training`` and imports torch itself.
"""
__version__ = "0.1.0"


def __getattr__(name):  # lazy, so `import recsys` stays light for the CLI and the app
    if name == "Recommender":
        from recsys.serving import Recommender
        return Recommender
    raise AttributeError(name)


__all__ = ["Recommender", "__version__"]
