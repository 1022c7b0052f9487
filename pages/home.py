"""Home: what the app does for a listener, each model in one plain sentence, what is served."""
import streamlit as st

from recsys import artifacts
from recsys.app import session, widgets

st.title("Playlist continuation")
st.write(
    "Pick a few tracks you love and get a playlist's worth more that fit with them: listen right "
    "here, or open them in Spotify. The suggestions come from which tracks real playlists put "
    "together, learned offline by a graph neural network.")
st.page_link("pages/recommend.py", label="Start: pick a few tracks", icon=":material/queue_music:")

PAGES = {
    "pages/recommend.py": "Search for tracks, add them as seeds and get recommendations; play them, "
                          "open them in Spotify, share the link or download the list.",
    "pages/my_spotify.py": "Log in with Spotify and get recommendations from your liked tracks. "
                           "Nothing is stored.",
    "pages/explorer.py": "Pick a track and see what sits next to it, on a map of the whole catalog.",
    "pages/training.py": "How the models learned and how they compare.",
}
for page, description in PAGES.items():
    st.page_link(page)
    st.caption(description)

st.subheader("The models")
st.caption("Pick one in the sidebar. Each was tested on playlists it never saw during training, "
           "with some of their tracks hidden.")
served = session.require_served()
widgets.model_summaries(artifacts.list_artifacts(session.models_dir()), served)
st.divider()
widgets.artifact_facts(served)
