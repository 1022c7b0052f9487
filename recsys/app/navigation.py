"""The app's pages, listed once: the entrypoint registers them with ``st.navigation``, the Home
page links to them, the tests run each. Plain data; ``pages()`` builds the ``st.Page`` objects."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str          # the page file, relative to the repository root
    title: str
    icon: str
    description: str   # what the Home page says about it ("" for Home itself)


HOME = PageSpec("pages/home.py", "Home", ":material/home:", "")
RECOMMEND = PageSpec("pages/recommend.py", "Recommend", ":material/queue_music:",
                     "Search for tracks, add them as seeds and get recommendations; play them, open "
                     "them in Spotify, share the link or download the list.")
MY_SPOTIFY = PageSpec("pages/my_spotify.py", "My Spotify", ":material/account_circle:",
                      "Log in with Spotify and get recommendations from your liked tracks. Nothing "
                      "is stored.")
EXPLORER = PageSpec("pages/explorer.py", "Explorer", ":material/scatter_plot:",
                    "Pick a track and see what sits next to it, on a map of the whole catalog.")
TRAINING = PageSpec("pages/training.py", "Training", ":material/monitoring:",
                    "How the models learned and how they compare.")
PAGES = (HOME, RECOMMEND, MY_SPOTIFY, EXPLORER, TRAINING)


def pages(spotify_configured: bool) -> list:
    """The ``st.Page`` of each page, Home first and default; My Spotify is marked "(off)" when
    Spotify login is not configured."""
    import streamlit as st

    return [st.Page(p.path, title=p.title + ("" if spotify_configured or p is not MY_SPOTIFY else " (off)"),
                    icon=p.icon, default=p is HOME) for p in PAGES]
