"""My Spotify (optional): recommendations from the user's liked tracks."""
import streamlit as st

from recsys.app import RecsysError, session, spotify_login, widgets
from recsys.app.tables import escape_markdown

st.title("My Spotify")

notice = spotify_login.pop_notice()
if notice:
    kind, text = notice
    (st.success if kind == "success" else st.error)(escape_markdown(text))

try:
    app_config = spotify_login.config()
except RecsysError as exc:
    widgets.error("Spotify login is misconfigured", exc)
    st.stop()
if app_config is None:
    st.info("Logging in with Spotify isn't available on this deployment. Everything else works "
            "without it: pick a few tracks you like as seeds on the Recommend page.")
    with st.expander("For the operator: how to turn Spotify login on"):
        st.markdown(
            "Register an app at developer.spotify.com and add its redirect URI (https, or "
            "`http://127.0.0.1:PORT/` locally — not `localhost`). Then set `SPOTIFY_CLIENT_ID`, "
            "`SPOTIFY_CLIENT_SECRET` and `SPOTIFY_REDIRECT_URI` in `.streamlit/secrets.toml` (on "
            "Community Cloud: the app's *Secrets* settings) or as environment variables, and restart "
            "the app. See README, *The app*.")
    st.stop()

st.caption(spotify_login.privacy_note())

try:
    client = spotify_login.client(app_config)
except RecsysError as exc:
    widgets.error("Spotify is not answering", exc)
    st.stop()
if client is None:
    st.write("Log in to turn your liked tracks into seeds. Spotify's login page opens in a new tab "
             "(it refuses to be shown inside this app's frame); you come back logged in there.")
    try:
        link = spotify_login.login_link(app_config)
    except RecsysError as exc:
        widgets.error("Cannot start a Spotify login in this browser", exc)
        st.stop()
    st.link_button("Log in with Spotify", link, type="primary", icon=":material/login:")
    st.stop()

who, refresh, leave = st.columns([3, 1, 1], vertical_alignment="center")
who.text(f"Logged in as {spotify_login.display_name()}")
refresh.button("Refresh liked tracks", key="spotify_refresh", icon=":material/refresh:",
               on_click=spotify_login.refresh_liked)
leave.button("Disconnect", on_click=spotify_login.disconnect, icon=":material/logout:",
             key="spotify_disconnect")

liked = spotify_login.fetched_liked()
if liked is None:
    bar = st.progress(0.0, text="Fetching your liked tracks…")
    try:
        liked = spotify_login.fetch_liked(
            client, progress=lambda done, total: bar.progress(done / max(total, 1),
                                                              text=f"Fetched {done} of {total} liked tracks"))
    except RecsysError as exc:
        bar.empty()
        widgets.error("Could not fetch your liked tracks", exc)
        st.stop()
    bar.empty()
if not liked:
    st.info("Your Spotify library has no liked tracks yet. Like a few songs in Spotify, then "
            "press **Refresh liked tracks** — or pick seeds by hand on the Recommend page.")
    st.stop()

recommender = session.require_served().recommender
match = recommender.match_external(liked)
widgets.liked_match(match)
if not match.track_ids:
    st.info("None of your liked tracks is in this model's catalog, so there is nothing to "
            "continue from. Try another model, or pick seeds by hand on the Recommend page.")
    st.stop()

k = st.slider("How many recommendations", 5, 100, 20, step=5, key="spotify_k")
result = recommender.recommend(match.track_ids, k=k)
st.subheader("Recommended for you")
widgets.recommendations(result.table, key="spotify", file_name="my_spotify_recommendations.csv")

st.subheader("Save as a Spotify playlist")
uris = spotify_login.saveable(result.table["track_id"])
if not uris:
    st.caption("This model's catalog has no Spotify ids (it was trained on data without them), so "
               "there is nothing Spotify could add to a playlist.")
elif not spotify_login.can_save_playlists():
    st.write("Saving needs one more permission (to create a private playlist); Spotify asks for it "
             "in a new tab.")
    try:
        st.link_button("Allow saving playlists", spotify_login.save_permission_link(app_config))
    except RecsysError as exc:
        widgets.error("Cannot start a Spotify login in this browser", exc)
else:
    name = st.text_input("Playlist name", "Continued from my liked tracks", max_chars=100,
                         key="playlist_name")
    if st.button(f"Save {len(uris)} tracks as a private playlist", key="save_playlist"):
        try:
            link = spotify_login.save_playlist(client, name, uris)
        except RecsysError as exc:
            widgets.error("Could not save the playlist", exc)
        else:
            st.success("Saved to your Spotify library.")
            st.link_button("Open it on Spotify", link)
