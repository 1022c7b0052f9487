"""``python -m recsys ingest spotify --out DIR ...``: crawl the Spotify Web API into a canonical dataset.

Not training data: Spotify's Developer Policy forbids training models on Web API content. The
default pipeline trains on the Million Playlist Dataset or CSV data only; a crawled dataset is
for looking at, and for testing the pipeline end to end.

Settings come from the environment: ``SPOTIFY_CLIENT_ID`` and ``SPOTIFY_CLIENT_SECRET`` (always),
``SPOTIFY_REDIRECT_URI`` (``--liked`` with an interactive login) or ``SPOTIFY_REFRESH_TOKEN``
(``--liked`` without one), and ``SPOTIFY_ACCOUNTS_BASE`` / ``SPOTIFY_API_BASE`` to point at
another server (the tests' fake one).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from recsys.data.dataset import from_rows, write_dataset
from recsys.ingest.spotify_crawler import CrawlError, Crawler, CrawlState
from recsys.spotify import settings
from recsys.spotify.client import Endpoints, Spotify, SpotifyError, client_credentials_client
from recsys.spotify.library import LIBRARY_SCOPE
from recsys.spotify.oauth import (
    TOKEN_KEY, OAuthStateStore, SpotifyAppConfig, complete_login, login_url, session_client,
)

# Liked tracks, and the user's private playlists besides the public ones.
CRAWL_SCOPE = f"{LIBRARY_SCOPE} playlist-read-private"
TERMS = ("Spotify Web API content: Spotify's Developer Policy forbids training models on it. "
         "Use it for inspection and pipeline tests only.")


def default_state_path(out: str | os.PathLike) -> Path:
    """Beside the output directory (which is replaced whole when the dataset is written)."""
    out = Path(out)
    return out.with_name(out.name + ".crawl.jsonl")


def user_client(env: Mapping[str, str], ask: Callable[[str], str] = input) -> Spotify:
    """A client for the user whose liked tracks are crawled: from ``SPOTIFY_REFRESH_TOKEN``, or
    by an interactive login (open the printed URL, paste back the address Spotify redirects to).
    The token stays in this process's memory."""
    session: dict = {}
    if env.get(settings.REFRESH_TOKEN):
        config = SpotifyAppConfig.from_mapping(
            {settings.REDIRECT_URI: "http://127.0.0.1:8501/", **env})  # unused by a refresh
        session[TOKEN_KEY] = {"access_token": "", "refresh_token": env[settings.REFRESH_TOKEN],
                              "expires_at": 0, "scope": CRAWL_SCOPE}
        sp = session_client(config, session)
        if sp is None:
            raise CrawlError("Spotify rejected SPOTIFY_REFRESH_TOKEN; unset it to log in again")
        return sp
    config = SpotifyAppConfig.from_mapping(env)
    if config is None:
        raise CrawlError("--liked needs SPOTIFY_REDIRECT_URI (or SPOTIFY_REFRESH_TOKEN) besides "
                         "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET")
    # The "browser" a console login is bound to is this process: the state it prints comes back here.
    store, here = OAuthStateStore(), secrets.token_hex(16)
    print("Open this address, log in to Spotify, then paste the address it sends you back to:\n"
          + login_url(config, store, scope=CRAWL_SCOPE, browser=here), file=sys.stderr)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ask("redirected address: ").strip()).query))
    if "error" in query or "code" not in query:
        raise CrawlError(f"Spotify did not grant access ({query.get('error', 'no code in the address')})")
    complete_login(config, store, query["code"], query.get("state", ""), session, browser=here)
    return session_client(config, session)


def crawl_command(args) -> int:
    """``python -m recsys ingest spotify``: crawl, resumably, and write the dataset."""
    env = os.environ
    if not (args.user or args.playlist or args.liked):
        raise CrawlError("nothing to crawl: give --playlist ID, --user ID or --liked")
    client_id, client_secret = env.get(settings.CLIENT_ID), env.get(settings.CLIENT_SECRET)
    if not (client_id and client_secret):
        raise CrawlError("set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (from your app on "
                         "developer.spotify.com) to crawl the Web API")
    # spotipy logs every HTTP error it raises; the crawler reports the ones that matter itself.
    logging.getLogger("spotipy").setLevel(logging.CRITICAL)
    app = client_credentials_client(client_id, client_secret, Endpoints.from_mapping(env))
    user = user_client(env) if args.liked else None
    state_path = Path(args.state) if args.state else default_state_path(args.out)
    state = CrawlState.open(state_path)
    if state.playlists or state.skipped or state.liked:
        print(f"resuming from {state_path}: {len(state.playlists)} playlists already crawled", file=sys.stderr)

    with tqdm(total=args.max_playlists, unit="playlist", desc="crawl", file=sys.stderr) as bar:
        crawler = Crawler(app, state, user=user, max_playlists=args.max_playlists, say=lambda message: tqdm.write(message, file=sys.stderr),
                          on_playlist=lambda done, _: bar.update(done - bar.n))
        try:
            crawler.crawl(users=args.user, playlists=args.playlist, liked=args.liked)
        except KeyboardInterrupt:
            print(f"\ninterrupted; progress is in {state_path}: run the same command to resume", file=sys.stderr)
            return 130
        except SpotifyError as exc:
            raise CrawlError(f"{exc}\nprogress is in {state_path}: run the same command to resume") from exc

    rows = state.rows()
    if not rows:
        raise CrawlError(f"the crawl found no tracks (see the notices above; state in {state_path})")
    ds = from_rows(pd.DataFrame(rows), name=args.name or Path(args.out).name, source="spotify")
    ds = write_dataset(dataclasses.replace(ds, meta={**ds.meta, "terms": TERMS}), args.out)
    print(f"{args.out}: {ds.n_playlists} playlists, {ds.n_tracks} tracks, {len(ds.interactions)} "
          f"interactions ({len(state.skipped)} playlists skipped; audio features: "
          f"{'none' if state.features_unavailable else 'yes'}). {TERMS}")
    return 0
