"""Recommend: search, pick seeds, tune, get a playlist continuation."""
import pandas as pd
import streamlit as st

from recsys.app import session, widgets
from recsys.errors import RecsysError

SEEDS = "seeds"  # list of {track_id, name, artist}; kept across pages and model versions


def add_seed(track: dict) -> None:
    st.session_state[SEEDS] = st.session_state.get(SEEDS, []) + [track]


def remove_seed(track: dict) -> None:
    st.session_state[SEEDS] = [s for s in st.session_state.get(SEEDS, [])
                               if s["track_id"] != track["track_id"]]


def clear_seeds() -> None:
    st.session_state[SEEDS] = []


recommender = session.require_served().recommender
seeds = st.session_state.get(SEEDS, [])
st.title("Recommend")

widgets.track_search(recommender, key="seed_search", action="Add",
                     on_pick=add_seed, picked={s["track_id"] for s in seeds})

st.subheader("Your seeds")
if not seeds:
    st.info("No seeds yet: search for a track above and press **Add**. Add several to steer the mix. "
            "Or start from one of the most played tracks:")
    widgets.track_rows(recommender.popular(5), key="popular_pick", action="Add", on_pick=add_seed)
    st.stop()
widgets.track_rows(pd.DataFrame(seeds), key="remove", action="Remove", on_pick=remove_seed)
st.button("Clear all seeds", on_click=clear_seeds)

k_column, diversity_column, cap_column = st.columns(3)
k = k_column.slider("How many", 5, 100, 20, step=5, key="k")
diversity = diversity_column.slider("Diversity", 0.0, 1.0, 0.0, step=0.1, key="diversity",
                                    help="0 ranks by similarity only; higher values trade "
                                         "similarity for variety (MMR re-ranking).")
cap = cap_column.number_input("Max tracks per artist", 0, 100, 0, key="max_per_artist",
                              help="0 means no limit.")

try:
    result = recommender.recommend([s["track_id"] for s in seeds], k=k, diversity=diversity,
                                   max_per_artist=cap or None)
except RecsysError as exc:
    widgets.error("Could not recommend", exc)
    st.stop()
if result.unknown_seeds:
    st.warning(f"{len(result.unknown_seeds)} seed(s) are not in this model's catalog and were "
               "left out; pick another model or remove them.")
if result.fallback:
    st.info("None of your seeds is in this model's catalog, so these are the most popular tracks.")
st.subheader("Recommendations")
widgets.recommendations(result.table, key="recommend", file_name="recommendations.csv")
