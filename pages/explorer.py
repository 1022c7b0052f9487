"""Explorer: a track's audio profile, its nearest neighbours and its place on the 2-D map of the
catalog. The neighbours and the map are fragments: moving one of their controls re-runs only them."""
import streamlit as st

from recsys.app import RecsysError, charts, session, state, tables, widgets

served = session.require_served()
recommender = served.recommender
catalog = recommender.catalog
st.title("Explorer")
widgets.track_search(recommender, key="explore_search", action="Explore", on_pick=state.set_focus,
                     picked={(state.focus() or {}).get("track_id")}, picked_label="Shown")

# The picked track, else the first seed of the Recommend page, else the most popular track
# (also when the pick came from another model version, whose catalog lacks it). It stays picked,
# so adding a neighbour as a seed does not move the page to another track.
focus = state.focus() or next(iter(state.seeds()), None)
if focus is None or served.catalog_rows([focus["track_id"]])[0] < 0:
    focus = recommender.popular(1)[["track_id", "name", "artist"]].iloc[0].to_dict()
    st.caption("Showing the most popular track; search above to explore another.")
state.set_focus(focus)
focus_row = int(served.catalog_rows([focus["track_id"]])[0])
name, link = st.columns([4, 1], vertical_alignment="center")
name.text(f"{focus['name']} — {focus['artist']}")
link.link_button("Open on Spotify", tables.spotify_url(focus["track_id"], focus["name"], focus["artist"]),
                 icon=":material/open_in_new:")
profile = tables.feature_profile(catalog, focus_row)
if len(profile):
    widgets.feature_profile(profile)


@st.fragment
def catalog_map(neighbour_rows) -> None:
    st.subheader("Map of the catalog")
    try:
        projection = recommender.artifact.projection
    except RecsysError as exc:
        widgets.error("The map is unavailable", exc)
        return
    left, right = st.columns(2)
    color_by = left.radio("Colour by", charts.colour_options(catalog), horizontal=True, key="explorer_colour")
    sample = right.slider("Catalog sample", 500, 10_000, 3_000, step=500, key="explorer_sample")
    points = charts.neighbourhood_points(catalog, projection, focus_row, neighbour_rows, sample=sample,
                                         color_by=color_by)
    st.altair_chart(charts.projection_chart(points, color_title=color_by), width="stretch")
    st.caption("A 2-D projection of the track embeddings, computed offline. The neighbours are "
               "ringed, the chosen track is the ringed diamond; scroll to zoom, drag to pan, hover "
               "for details.")


@st.fragment
def neighbourhood() -> None:
    st.subheader("Nearest neighbours")
    k = st.slider("Neighbours", 5, 50, 10, step=5, key="explorer_k")
    neighbours = recommender.similar(focus["track_id"], k=k)
    rows = served.catalog_rows(neighbours["track_id"])
    widgets.neighbours_table(tables.neighbours_view(neighbours, catalog, rows), key="explorer_neighbours")
    widgets.track_actions(neighbours, key="explorer_act", on_more=state.set_focus)
    catalog_map(rows)


neighbourhood()
