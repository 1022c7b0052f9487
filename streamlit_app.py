"""The app's entrypoint (``streamlit run streamlit_app.py``): it only builds the frame. On every
run it finishes a Spotify login if Spotify redirected here, draws the model picker and loads the
picked artifact, then runs the page. The pages live in ``pages/``, registered here explicitly."""
import streamlit as st

from recsys.app import session, spotify_login

st.set_page_config(page_title="Playlist continuation", page_icon="🎧", layout="wide")

page = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/recommend.py", title="Recommend", icon=":material/queue_music:"),
    st.Page("pages/my_spotify.py", title="My Spotify" if spotify_login.configured() else "My Spotify (off)",
            icon=":material/account_circle:"),
    st.Page("pages/explorer.py", title="Explorer", icon=":material/scatter_plot:"),
    st.Page("pages/training.py", title="Training", icon=":material/monitoring:"),
])
spotify_login.handle_callback()
session.pick_and_load()
page.run()
