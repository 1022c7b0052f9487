"""Home: what is being served (dataset and model facts from the manifest) and what each page does."""
import streamlit as st

from recsys.app import session, widgets

st.title("Playlist continuation")
st.write(
    "Pick a few tracks and get a playlist's worth more. A graph neural network trained offline on "
    "playlists gives every track an embedding; the app finds the tracks closest to your picks with "
    "a vector search. Choose the model and version in the sidebar.")

PAGES = {
    "pages/recommend.py": "Search tracks by name or artist, add them as seeds, tune how many "
                          "recommendations, how diverse and how many per artist; download as CSV.",
    "pages/my_spotify.py": "Optional: log in with Spotify and get recommendations from your liked "
                           "tracks. Nothing is stored.",
    "pages/explorer.py": "Pick a track, see its nearest neighbours and where it sits on a 2-D map "
                         "of the catalog.",
    "pages/training.py": "Training curves, final metrics and the comparison of all models.",
}
for page, description in PAGES.items():
    st.page_link(page)
    st.caption(description)

st.divider()
widgets.artifact_facts(session.require_served())
