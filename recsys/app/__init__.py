"""The Streamlit app's library: the one package that knows Streamlit, and all the pages import.

``state`` (every ``st.session_state`` key, with typed accessors), ``session`` (cached artifact
loading, the model picker), ``navigation`` (the page table), ``recommend_state`` (the Recommend
page's callbacks and link), ``spotify_login`` (the OAuth callback, the per-session Spotify client
and what it fetches), ``streamlit_compat`` (the one private Streamlit internal touched) and
``widgets`` import streamlit; ``charts`` (Altair chart builders), ``tables`` (result tables,
links, text escaping), ``describe`` and ``url_state`` are plain functions, testable without
Streamlit or a browser. This ``__init__`` imports only the error type the pages catch, so
``import recsys.app.charts`` stays light.
"""
from recsys.errors import RecsysError

__all__ = ["RecsysError"]
