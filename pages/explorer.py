"""Explorer: a track's nearest neighbours and its place on the 2-D map of the catalog."""
import streamlit as st

from recsys.app import charts, session, widgets
from recsys.errors import RecsysError

FOCUS = "explorer_focus"  # {track_id, name, artist}


def set_focus(track: dict) -> None:
    st.session_state[FOCUS] = track


served = session.require_served()
recommender = served.recommender
catalog = recommender.catalog
st.title("Explorer")
widgets.track_search(recommender, key="explore_search", action="Explore", on_pick=set_focus,
                     picked={st.session_state.get(FOCUS, {}).get("track_id")}, picked_label="Shown")

st.subheader("Nearest neighbours")
k = st.slider("Neighbours", 5, 50, 10, step=5, key="explorer_k")
# The picked track, else the first seed of the Recommend page, else the most popular track.
focus = st.session_state.get(FOCUS) or next(iter(st.session_state.get("seeds", [])), None)
try:
    neighbours = recommender.similar(focus["track_id"], k=k) if focus else None
except RecsysError:  # picked under another model version, whose catalog lacks it
    neighbours = None
if neighbours is None:
    focus = recommender.popular(1)[["track_id", "name", "artist"]].iloc[0].to_dict()
    neighbours = recommender.similar(focus["track_id"], k=k)
    st.caption("Showing the most popular track; search above to explore another.")
st.text(f"{focus['name']} — {focus['artist']}")

rows = served.catalog_rows(neighbours["track_id"])
if "genre" in catalog.columns:
    neighbours["genre"] = catalog["genre"].to_numpy()[rows]
st.dataframe(neighbours[[c for c in ("name", "artist", "genre", "score") if c in neighbours.columns]],
             hide_index=True, width="stretch", column_config={
                 "name": "Track", "artist": "Artist", "genre": "Genre",
                 "score": st.column_config.ProgressColumn("Similarity", format="%.3f",
                                                          min_value=0.0, max_value=1.0)})

st.subheader("Map of the catalog")
try:
    projection = recommender.artifact.projection
except RecsysError as exc:
    widgets.error("The map is unavailable", exc)
    st.stop()
left, right = st.columns(2)
color_by = left.radio("Colour by", ["genre", "artist"], horizontal=True, key="explorer_colour")
sample = right.slider("Catalog sample", 500, 10_000, 3_000, step=500, key="explorer_sample")
points = charts.neighbourhood_points(catalog, projection, served.catalog_rows([focus["track_id"]])[0],
                                     rows, sample=sample, color_by=color_by)
st.altair_chart(charts.projection_chart(points, color_title=color_by), width="stretch")
st.caption("A 2-D projection of the track embeddings, computed offline. The neighbours are "
           "outlined, the chosen track is the diamond; scroll to zoom, drag to pan, hover for details.")
