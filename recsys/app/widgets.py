"""Widgets shared by the pages. Every string from data is shown as text (st.text, st.dataframe,
widget options) or escaped (``escape_markdown``) where the element renders markdown; nothing
here uses ``unsafe_allow_html``."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from recsys.app import describe, recommend_state, state, tables
from recsys.app.session import Served
from recsys.app.tables import code_span, escape_markdown
from recsys.errors import RecsysError
from recsys.serving.recommender import MAX_QUERY_CHARS
from recsys.spotify import ids

SEARCH_LIMIT = 10
SEARCH_MAX_CHARS = MAX_QUERY_CHARS  # what Recommender.search accepts


def artifact_facts(served: Served) -> None:
    """The served artifact for a listener (counts, the date of the version, the held-out figures
    rounded to 3 significant digits); fingerprints, dtypes and configuration in the provenance
    expander."""
    manifest = served.recommender.artifact.manifest
    dataset = manifest.get("dataset", {})
    counts = dataset.get("counts", {})
    st.subheader("Serving")
    st.text(f"{served.model} / {describe.version_label(served.version)}")
    columns = st.columns(3)
    columns[0].metric("Tracks", f"{manifest['embedding']['rows']:,}")
    columns[1].metric("Playlists", f"{counts['playlists']:,}" if "playlists" in counts else "–")
    columns[2].metric("Artists", f"{counts['artists']:,}" if "artists" in counts else "–")
    metrics = manifest.get("metrics") or {}
    if metrics:
        st.markdown("**Held-out figures**")
        st.dataframe(_key_values({k: describe.significant(v) if isinstance(v, float) else v
                                  for k, v in _flatten(metrics).items()}), hide_index=True, width="stretch")
    with st.expander("Model configuration and provenance"):
        facts = {k: v for k, v in dataset.items() if not isinstance(v, (dict, list))}
        facts.update({"version": served.version, "created_at": manifest.get("created_at"),
                      "embedding": f"{manifest['embedding']['dim']} × {manifest['embedding']['dtype']}"})
        st.dataframe(_key_values(facts), hide_index=True, width="stretch")
        st.json({"config": manifest.get("config", {}), "git_commit": manifest.get("git_commit"),
                 "libraries": manifest.get("libraries", {})}, expanded=False)


def model_summaries(rows: list[dict], served: Served | None) -> None:
    """One line per model (its current version, from ``artifacts.list_artifacts`` rows): what it
    is and, in one sentence, how it did on held-out playlists."""
    for row in rows:
        if not row.get("current"):
            continue
        serving = " (serving now)" if served and served.model == row["model"] else ""
        st.markdown(f"**{escape_markdown(describe.model_description(row['model']))}**{serving}")
        sentence = describe.listener_sentence(row.get("metrics") or {})
        st.caption(escape_markdown(" ".join(filter(None, [
            sentence, f"Version of {describe.version_label(row['version'])}."]))))


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _key_values(mapping: dict) -> pd.DataFrame:
    return pd.DataFrame({"": list(mapping), "value": [str(v) for v in mapping.values()]})


def track_search(recommender, *, key: str, action: str, on_pick: Callable[[dict], None],
                 picked: set[str] = frozenset(), picked_label: str = "Added") -> None:
    """A search box over the catalog; each hit (with album and year, and its Spotify link) gets a
    button labelled ``action`` that calls ``on_pick(track)`` (track = dict with track_id, name,
    artist) before the next run; hits already in ``picked`` get a disabled ``picked_label``
    button instead. "More results" shows SEARCH_LIMIT more at a time. A paste longer than the
    box's limit is cut to it, with a note (a browser's maxlength would empty the box instead)."""
    st.text_input("Search tracks by name or artist", key=state.search_query_key(key),
                  placeholder="e.g. shape of you, or an artist's name", on_change=_cut_query, args=(key,))
    query = state.search_query(key)
    if state.pop_search_cut(key):
        st.caption(f"Your search was cut to its first {SEARCH_MAX_CHARS} characters.")
    if not query.strip():
        return
    limit = state.search_limit(key, SEARCH_LIMIT)
    try:
        hits = recommender.search(query, limit=limit + 1)  # one more: is there a next page?
    except RecsysError as exc:
        error("Could not search", exc)
        return
    if len(hits) == 0:
        st.info("No track matches that search. Try fewer words, or just the artist's name.")
        return
    track_rows(hits.head(limit), key=f"{key}_pick", action=action, on_pick=on_pick, picked=picked,
               picked_label=picked_label,
               details=tables.catalog_details(recommender.catalog,
                                              recommender.catalog_rows(hits["track_id"])))
    if len(hits) > limit:
        st.button("More results", key=f"{key}_more", on_click=state.set_search_limit,
                  args=(key, min(limit + SEARCH_LIMIT, 100)),
                  icon=":material/expand_more:")


def _cut_query(box: str) -> None:
    state.set_search_limit(box, None)  # a new search starts at the first page
    if len(state.search_query(box)) > SEARCH_MAX_CHARS:
        state.cut_search_query(box, SEARCH_MAX_CHARS)


def track_rows(tracks: pd.DataFrame, *, key: str, action: str, on_pick: Callable[[dict], None],
               picked: set[str] = frozenset(), picked_label: str = "Added",
               details: list[str] | None = None, on_play: Callable[[dict], None] | None = None) -> None:
    """One line per track ("name — artist", as text; ``details`` below it, e.g. album · year) with
    its Spotify link (new tab), a button calling ``on_pick(track)`` and, with ``on_play``, a play
    button for the tracks that have a Spotify id."""
    records = tracks[["track_id", "name", "artist"]].to_dict("records")
    for i, track in enumerate(records):
        with st.container(horizontal=True, vertical_alignment="center", key=f"{key}_row_{i}"):
            with st.container(width="stretch", gap=None):
                st.text(f"{track['name']} — {track['artist']}")
                detail = escape_markdown(details[i]) + " · " if details and details[i] else ""
                st.caption(detail + spotify_link(track))
            if on_play and ids.track_id(track["track_id"]):
                st.button("", key=f"{key}_play_{track['track_id']}", on_click=on_play, args=(track,),
                          icon=":material/play_arrow:", help="Play it here")
            already = track["track_id"] in picked
            st.button(picked_label if already else action, key=f"{key}_{track['track_id']}",
                      disabled=already, on_click=on_pick, args=(track,))


def spotify_link(track: dict) -> str:
    """A markdown link to the track on Spotify (opens in a new tab), or to a Spotify search for
    it when it has no Spotify id."""
    url = tables.spotify_url(track["track_id"], track["name"], track["artist"])
    label = "Spotify ↗" if ids.track_id(track["track_id"]) else "Search Spotify ↗"
    return f"[{label}]({url})"


SCORE_HELP = ("Score: how close a track is to your seeds, as the cosine similarity of its learned "
              "embedding to the seeds' average (1 = same direction, 0 = unrelated). Only the order "
              "matters; numbers are not comparable across models.")


def player(track: dict | None) -> None:
    """The one Spotify embed player of the page, for ``track`` (nothing for None)."""
    if track is None:
        return
    st.iframe(ids.embed_url(ids.track_id(track["track_id"])), height=152)


def recommendation_list(table: pd.DataFrame, *, key: str, details: list[str], art: dict[str, str],
                        seed_ids: set[str], playing: str | None, on_play, on_add, on_more) -> None:
    """All rows of a ``Recommendations.table`` as a compact list that wraps on a phone: art,
    rank, a Spotify link, album · year · score · the seed it is there because of, and the actions
    Play (tracks with a Spotify id), Add as seed and More like this."""
    records = table.to_dict("records")
    for i, track in enumerate(records):
        spotify_id = ids.track_id(track["track_id"])
        with st.container(horizontal=True, vertical_alignment="top", key=f"{key}_row_{i}"):
            if spotify_id in art:
                st.image(art[spotify_id], width=56)
            with st.container(width="stretch", gap=None):
                now = " ▶" if track["track_id"] == playing else ""
                st.markdown(f"{track['rank']}. **{escape_markdown(track['name'])}** — "
                            f"{escape_markdown(track['artist'])}{now}")
                because = (f" · because you picked {track['because_name']}"
                           if track.get("because_name") else "")
                facts = " · ".join(p for p in (details[i], f"score {track['score']:.3f}") if p)
                st.caption(escape_markdown(facts + because) + " · " + spotify_link(track))
                with st.container(horizontal=True, gap="small"):
                    if spotify_id:
                        st.button("Play", key=f"{key}_play_{track['track_id']}", on_click=on_play,
                                  args=(track,), icon=":material/play_arrow:", type="tertiary")
                    added = track["track_id"] in seed_ids
                    st.button("Added" if added else "Add as seed", key=f"{key}_add_{track['track_id']}",
                              on_click=on_add, args=(track,), disabled=added, icon=":material/add:",
                              type="tertiary")
                    st.button("More like this", key=f"{key}_more_{track['track_id']}", on_click=on_more,
                              args=(track,), icon=":material/radar:", type="tertiary")


def recommendations(table: pd.DataFrame, *, key: str, file_name: str) -> None:
    """A ``Recommendations.table`` as a sortable table with Spotify links, a CSV download and an
    embedded player for the tracks that have a Spotify id."""
    view = tables.recommendations_view(table)
    st.dataframe(
        view, hide_index=True, width="stretch", key=f"{key}_table",
        column_config={
            "rank": st.column_config.NumberColumn("#", width="small"),
            "name": "Track", "artist": "Artist", "album": "Album",
            "score": st.column_config.NumberColumn("Score", format="%.3f"),
            "because_name": "Because you picked",
            "spotify": st.column_config.LinkColumn("Spotify", display_text="open ↗"),
            "track_id": None,
        })
    st.download_button("Download as CSV", tables.to_csv(view), file_name=file_name, mime="text/csv",
                       key=f"{key}_csv", on_click="ignore", icon=":material/download:")
    playable = view[[ids.track_id(t) is not None for t in view["track_id"]]]
    if len(playable):
        labels = dict(zip(playable["track_id"], playable["name"] + " — " + playable["artist"]))
        track_id = st.selectbox("Listen on Spotify", list(labels), format_func=labels.__getitem__,
                                key=f"{key}_player")
        st.iframe(ids.embed_url(ids.track_id(track_id)), height=152)


_LINK_COLUMN = st.column_config.LinkColumn("Spotify", display_text="open ↗")
_FEATURE_FORMATS = {"tempo": "%.0f BPM", "loudness": "%.1f dB"}


def _feature_column(name: str):
    return st.column_config.NumberColumn(name.capitalize(), format=_FEATURE_FORMATS.get(name, "%.2f"))


def neighbours_table(view: pd.DataFrame, *, key: str) -> None:
    """A ``tables.neighbours_view``: similarity as a bar, the audio features, a Spotify link."""
    st.dataframe(view, hide_index=True, width="stretch", key=key, column_config={
        "name": "Track", "artist": "Artist", "genre": "Genre",
        "score": st.column_config.ProgressColumn("Similarity", format="%.3f", min_value=0.0, max_value=1.0),
        **{f: _feature_column(f) for f in tables.PROFILE_FEATURES},
        "spotify": _LINK_COLUMN,
        "track_id": None,
    })


def feature_profile(profile: pd.DataFrame) -> None:
    """A ``tables.feature_profile``: each feature's value and where it sits in the catalog."""
    st.dataframe(profile.assign(feature=profile["feature"].str.capitalize()), hide_index=True,
                 width="stretch", column_config={
                     "feature": "Audio feature",
                     "value": st.column_config.NumberColumn("Value", format="%.3g"),
                     "percentile": st.column_config.ProgressColumn(
                         "Percentile", format="%.0f", min_value=0.0, max_value=100.0,
                         help="The share of the catalog's tracks with this value or a lower one"),
                 })


def track_actions(tracks: pd.DataFrame, *, key: str, on_more: Callable[[dict], None]) -> None:
    """Pick one of ``tracks`` (track_id, name, artist) and act on it: "Add as seed" adds it to the
    session's seeds (``recsys.app.recommend_state``, what the Recommend page recommends from); "More like
    this" calls ``on_more(track)`` and runs the whole page again (also from inside a fragment)."""
    records = {t["track_id"]: t for t in tracks[["track_id", "name", "artist"]].to_dict("records")}
    if not records:
        return
    picked = st.selectbox("Pick a track to act on", list(records), key=f"{key}_pick",
                          format_func=lambda t: f"{records[t]['name']} — {records[t]['artist']}")
    track = records[picked]
    seeded = picked in {s["track_id"] for s in state.seeds()}
    left, right = st.columns(2)
    left.button("In your seeds" if seeded else "Add as seed", key=f"{key}_seed", disabled=seeded,
                on_click=recommend_state.add_seed, args=(track,), icon=":material/playlist_add:", width="stretch")
    if right.button("More like this", key=f"{key}_more", icon=":material/travel_explore:", width="stretch"):
        on_more(track)
        st.rerun()


def error(prefix: str, exc: Exception) -> None:
    """``prefix: message of exc`` as an error box, shown literally (both may quote data)."""
    st.error(escape_markdown(f"{prefix}: {exc}"))


def metrics_table(metrics_by_version: dict[str, dict]) -> pd.DataFrame:
    """One row per version, one column per (flattened) metric."""
    return pd.DataFrame.from_dict({label: _flatten(m) for label, m in metrics_by_version.items()},
                                  orient="index")


def liked_match(match) -> None:
    """How many liked tracks (an ``ExternalMatch``) were found in the catalog and how, and which
    were not (with their Spotify links)."""
    st.metric("Liked tracks found in the catalog", f"{len(match.matched)} of {match.n_input}")
    by = match.matched["matched_by"].value_counts()
    st.caption(f"Match rate {match.match_rate:.0%}: {by.get('spotify_id', 0)} by Spotify id, "
               f"{by.get('name_artist', 0)} by name and artist (for tracks whose id the catalog lacks).")
    if len(match.unmatched):
        with st.expander(f"Liked tracks not in the catalog ({len(match.unmatched)})"):
            unmatched = pd.DataFrame(match.unmatched).reindex(columns=["track_id", "name", "artist"])
            st.dataframe(tables.with_spotify_links(unmatched.fillna("")), hide_index=True, width="stretch",
                         column_config={"name": "Track", "artist": "Artist", "track_id": None,
                                        "spotify": _LINK_COLUMN})


def comparison_report(models_dir) -> None:
    """The model comparison report (``report.json`` in the models directory), or how to make one."""
    from recsys import reports  # with the evaluation harness it imports: only the Training page pays it

    path = models_dir / reports.REPORT
    try:
        report = reports.read_report(models_dir)
    except reports.ReportError as exc:
        error("The comparison report cannot be shown", exc)
        return
    if report is None:
        st.info("No comparison report yet: `python -m recsys evaluate` writes one "
                f"(the app reads {code_span(path)}).")
        return
    meta = report.get("meta", {})
    protocol = meta.get("split", {}).get("protocol", "?") if isinstance(meta.get("split"), dict) else "?"
    st.text(f"Best by NDCG@500: {report.get('best')}  ·  dataset {meta.get('dataset', '?')}  ·  "
            f"{protocol} protocol  ·  {report.get('created_at', '')}")
    table = tables.comparison_table(report)
    ndcg = "ndcg@500"
    if ndcg in table.columns:
        from recsys.app import charts  # altair costs ~1 s to import: only the pages with charts pay it

        st.altair_chart(charts.comparison_chart(table, ndcg), width="stretch")
    notes = table.pop("notes") if "notes" in table.columns else pd.Series(dtype=object)
    st.dataframe(table, hide_index=True, width="stretch")
    # Notes are sentences: listed under the table, where they wrap, instead of a cut-off column.
    lines = [f"- **{escape_markdown(name)}**: {escape_markdown(note)}"
             for name, note in zip(table["name"], notes) if note]
    if lines:
        st.markdown("\n".join(lines))
    markdown = path.with_suffix(".md")
    if markdown.is_file():
        st.download_button("Download the report (markdown)", markdown.read_bytes(), file_name="report.md",
                           mime="text/markdown", on_click="ignore", key="report_md")


GLOSSARY = """\
- **R-precision**: of a playlist's *R* held-out tracks, the share found in the top *R* recommendations.
- **NDCG@k**: how high the held-out tracks sit in the top *k* (1 = all at the very top, 0 = none in the list).
- **Recall@k**: the share of held-out tracks found in the top *k*.
- **Hit rate@k**: the share of playlists with at least one held-out track in the top *k*.
- **Precision@k**: the share of the top *k* that are held-out tracks.
- **Clicks**: how many pages of 10 recommendations a listener would turn before reaching the first
  held-out track (0 = it is on the first page, 51 = not in the top 500; lower is better).
- **Coverage**: the share of the catalog that appears in anyone's recommendations (higher = less
  stuck on the same hits).
- **Epoch**: one pass over the training playlists; **train_loss** is what training minimises,
  **val_…** the metric on held-out validation playlists.
"""


def metrics_glossary() -> None:
    """What the Training page's metric names mean, in a collapsed expander."""
    with st.expander("What do these numbers mean?"):
        st.markdown(GLOSSARY)
