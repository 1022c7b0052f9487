"""The app's entrypoint (``streamlit run streamlit_app.py``): it only builds the frame. On every
run it finishes a Spotify login if Spotify redirected here, draws the model picker and loads the
picked artifact, then runs the page. The pages live in ``pages/``, registered here explicitly
from the one page table (``recsys.app.navigation``)."""
import streamlit as st

from recsys.app import navigation, session, spotify_login

st.set_page_config(page_title="Playlist continuation", page_icon="🎧", layout="wide")

page = st.navigation(navigation.pages(spotify_configured=spotify_login.configured()))
spotify_login.handle_callback()
session.pick_and_load()
page.run()
