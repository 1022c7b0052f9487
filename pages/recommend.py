"""Recommend: search, pick seeds, tune, listen to a playlist continuation. Seeds and controls on
the left, the player and the list on the right, so what an action changes is in view; the state
lives in the URL (a reload keeps it, a link shares it)."""
import pandas as pd
import streamlit as st

from recsys.app import RecsysError, session, state, tables, widgets
from recsys.app import recommend_state as recommend

served = session.require_served()
recommender = served.recommender
st.title("Recommend")
for problem in recommend.restore_from_url(served):
    st.warning(tables.escape_markdown(problem))
seeds = state.seeds()
seed_ids = {s["track_id"] for s in seeds}

controls, results = st.columns([2, 3], gap="large")
with controls:
    widgets.track_search(recommender, key="seed_search", action="Add", on_pick=recommend.add_seed,
                         picked=seed_ids)
    st.subheader("Your seeds")
    if not seeds:
        st.info("No seeds yet: search for a track above and press **Add**. Add several to steer the "
                "mix. Or start from one of the most played tracks:")
        popular = recommender.popular(5)
        widgets.track_rows(popular, key="popular_pick", action="Add", on_pick=recommend.add_seed,
                           details=tables.catalog_details(recommender.catalog,
                                                          recommender.catalog_rows(popular["track_id"])))
        recommend.write_url(served, k=recommend.K_DEFAULT, diversity=0.0, cap=None)
        st.stop()
    widgets.track_rows(pd.DataFrame(seeds), key="remove", action="Remove", on_pick=recommend.remove_seed,
                       on_play=recommend.play,
                       details=tables.catalog_details(
                           recommender.catalog, served.catalog_rows([s["track_id"] for s in seeds])))
    st.button("Clear all seeds", on_click=recommend.clear_seeds)

    k = st.slider("How many", 5, 100, recommend.K_DEFAULT, step=5, key=state.K)
    diversity = st.slider("Diversity", 0.0, 1.0, 0.0, step=0.1, key=state.DIVERSITY,
                          help="0 ranks by similarity only; higher values trade similarity for "
                               "variety (MMR re-ranking).")
    auto_cap = tables.auto_artist_cap(k, [s["artist"] for s in seeds])
    cap = st.number_input("Max tracks per artist", value=None, step=1, key=state.CAP,
                          on_change=recommend.clamp_cap, placeholder=f"auto ({auto_cap or 'no limit'})",
                          help="Empty: automatic, 2 per 20 tracks (no limit when all your seeds are "
                               "by one artist). 0: no limit.")
    note = state.pop_note()
    if note:
        st.warning(note)
recommend.write_url(served, k=k, diversity=diversity, cap=cap)
effective_cap = auto_cap if cap is None else (cap or None)

with results:
    try:
        result = recommender.recommend([s["track_id"] for s in seeds], k=k, diversity=diversity,
                                       max_per_artist=effective_cap)
    except RecsysError as exc:
        widgets.error("Could not recommend", exc)
        st.stop()
    table = result.table
    playable = tables.playable(table.to_dict("records") + seeds)
    playing = next((t for t in playable if t["track_id"] == state.playing()),
                   playable[0] if playable else None)
    widgets.player(playing)
    st.subheader("Recommendations", help=widgets.SCORE_HELP)
    if result.unknown_seeds:
        st.warning(f"{len(result.unknown_seeds)} seed(s) are not in this model's catalog and were "
                   "left out; pick another model or remove them.")
    if result.fallback:
        st.info("None of your seeds is in this model's catalog, so these are the most popular tracks.")
    if diversity > 0:
        st.caption("With diversity above 0 the list is ordered for variety, not by score.")
    if diversity >= recommend.DRIFT_DIVERSITY:
        st.warning("At high diversity the list drifts away from your seeds: expect tracks that "
                   "have little to do with them. Lower it to stay close.")
    art = session.album_art_thumbnails(tables.spotify_ids(table["track_id"]))
    widgets.recommendation_list(
        table, key="rec", art=art, seed_ids=seed_ids,
        details=tables.catalog_details(recommender.catalog, recommender.catalog_rows(table["track_id"])),
        playing=playing["track_id"] if playing else None,
        on_play=recommend.play, on_add=recommend.add_seed, on_more=recommend.more_like_this)
    st.download_button("Download as CSV", tables.to_csv(tables.recommendations_view(table)),
                       file_name="recommendations.csv", mime="text/csv", key="rec_csv",
                       on_click="ignore", icon=":material/download:")
