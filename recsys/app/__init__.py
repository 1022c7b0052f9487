"""The Streamlit app's library: the one package that knows Streamlit.

``session`` (cached artifact loading, the model picker), ``seeds`` (the session's seeds),
``spotify_login`` (the OAuth callback and the per-session Spotify client) and ``widgets`` import
streamlit; ``charts`` (Altair chart builders) and ``tables`` (result tables, links, text
escaping) are plain functions over DataFrames, testable without Streamlit or a browser. This ``__init__`` imports nothing, so
``import recsys.app.charts`` stays light.
"""
