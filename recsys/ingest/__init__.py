"""Ingest sources: each turns one raw format into the canonical dataset of ``recsys.data.dataset``.

- ``recsys.ingest.csv``: ``spotify_songs.csv`` (the embedded data) or the full TidyTuesday schema.
- ``recsys.ingest.mpd``: Million Playlist Dataset slices and the RecSys 2018 challenge set.
- ``recsys.ingest.spotify``: a Spotify Web API crawl (``spotify_crawler``: the resumable crawler).

``python -m recsys ingest <source>`` (``recsys.cli``) runs them.

``recsys.ingest.synthetic_mpd`` is no source but the MPD's mirror: it writes MPD-format slices with
a known structure, which tests and benchmarks ingest with ``recsys.ingest.mpd``.
"""
