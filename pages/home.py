"""Home: what the app does for a listener, each model in one plain sentence, what is served."""
import streamlit as st

from recsys.app import navigation, session, widgets

st.title("Playlist continuation")
st.write(
    "Pick a few tracks you love and get a playlist's worth more that fit with them: listen right "
    "here, or open them in Spotify. The suggestions come from which tracks real playlists put "
    "together, learned offline by a graph neural network.")
st.page_link(navigation.RECOMMEND.path, label="Start: pick a few tracks", icon=navigation.RECOMMEND.icon)

for page in navigation.PAGES:
    if page is not navigation.HOME:
        st.page_link(page.path)
        st.caption(page.description)

st.subheader("The models")
st.caption("Pick one in the sidebar. Each was tested on playlists it never saw during training, "
           "with some of their tracks hidden.")
served = session.require_served()
widgets.model_summaries(session.artifact_rows(), served)
st.divider()
widgets.artifact_facts(served)
