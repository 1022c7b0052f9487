"""Synthetic Million Playlist Dataset slices for tests and benchmarks.

``write_synthetic_mpd`` writes files in the MPD slice format (the structs of
``recsys.ingest.mpd``, pretty-printed like the real slices) with a structure a recommender can
learn from:

- latent genres of unequal size; every artist belongs to one genre and has several albums;
- Zipf track popularity within each genre (a few hits, a long tail);
- playlist lengths log-normal like the MPD's (median ~49, mean ~66, clipped to 5..250);
- a playlist draws ~80% of its tracks from its main genre, ~10% from a second genre and the rest
  from anywhere; a few playlists repeat a track, as real ones do;
- names with accents, quotes and emoji, so encoders and CSV/JSON escaping get exercised.

Same arguments, same bytes: everything is drawn from ``numpy.random.default_rng`` seeded by
``seed`` (the catalog) and ``(seed, slice number)`` (each slice's playlists).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from recsys.ingest.mpd import MpdPlaylist, MpdSlice, MpdTrack

GENRES = ("pop", "rock", "rap", "country", "edm", "latin", "r&b", "indie", "jazz", "metal")
_WORDS = ("love", "night", "fire", "heart", "summer", "road", "dream", "rain", "gold", "city",
          "wild", "blue", "home", "light", "river", "ghost", "dance", "señorita", "café", "naïve",
          "über", "\"little\"", "o'clock", "mañana", "coração", "été", "Ø", "kärlek", "niño", "amor")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "to", "shi", "ne", "bel", "dor", "sa", "lé", "ño",
              "zu", "ri", "an", "el", "ko", "ma", "vi", "ö", "de")
_PLAYLIST_NAMES = ("{g}", "{g} mix", "best of {g}", "{g} 🔥", "chill {g}", "my {g}", "{g} hits",
                   "road trip", "workout", "summer '17", "música {g}", "throwbacks", "été {g}")
_BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))


class SyntheticPlaylist(MpdPlaylist, gc=False):
    """A slice playlist with the real MPD's other fields, which the ingest must skip."""

    collaborative: str
    modified_at: int
    num_albums: int
    num_followers: int
    num_edits: int
    duration_ms: int
    num_artists: int


@dataclass(frozen=True)
class Catalog:
    """The synthetic track catalog; row i is track i."""

    tracks: list[MpdTrack]  # pos is 0; a playlist sets its own
    artist_number: np.ndarray
    album_number: np.ndarray
    genre: np.ndarray  # int, index into GENRES
    genre_tracks: list  # per genre: track numbers ordered by popularity
    genre_cdf: list  # per genre: cumulative Zipf probabilities over genre_tracks

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)


def make_catalog(n_tracks: int = 100_000, n_genres: int = 8, seed: int = 0,
                 zipf_exponent: float = 1.0) -> Catalog:
    """Artists in genres, albums per artist, tracks per album, Zipf popularity within genre."""
    if not 1 <= n_genres <= len(GENRES):
        raise ValueError(f"n_genres must be 1..{len(GENRES)}, got {n_genres}")
    rng = np.random.default_rng(seed)
    # Artists with a heavy-tailed number of tracks (mean ~8), albums of 3..14 tracks.
    n_artists = max(1, n_tracks // 8)
    artist_weight = 1.0 / np.arange(10, n_artists + 10) ** 0.7
    artist_of_track = np.sort(rng.choice(n_artists, size=n_tracks, p=artist_weight / artist_weight.sum()))
    track_ordinal = np.arange(n_tracks) - np.searchsorted(artist_of_track, artist_of_track)
    album_size = rng.integers(3, 15, size=n_artists)
    album_of_track = artist_of_track.astype(np.int64) * n_tracks + track_ordinal // album_size[artist_of_track]
    _, album_number = np.unique(album_of_track, return_inverse=True)
    genre_weight = 1.0 / np.arange(1, n_genres + 1) ** 0.5
    artist_genre = rng.choice(n_genres, size=n_artists, p=genre_weight / genre_weight.sum())
    genre = artist_genre[artist_of_track]

    artist_names = [f"{first.title()} {last.title()}" for first, last in
                    zip(_phrases(rng, _SYLLABLES, n_artists, 2, 4, sep=""),
                        _phrases(rng, _SYLLABLES, n_artists, 2, 3, sep=""))]
    album_names = [name.title() for name in _phrases(rng, _WORDS, album_number.max() + 1, 1, 3)]
    track_names = [name.capitalize() for name in _phrases(rng, _WORDS, n_tracks, 1, 4)]
    for i in np.flatnonzero(rng.random(n_tracks) < 0.05):  # features, as in "Song (feat. X)"
        track_names[i] += f" (feat. {artist_names[rng.integers(n_artists)]})"

    popularity_rank = rng.permutation(n_tracks)
    genre_tracks, genre_cdf = [], []
    for g in range(n_genres):
        members = np.flatnonzero(genre == g)
        members = members[np.argsort(popularity_rank[members])]
        weight = 1.0 / np.arange(1, len(members) + 1) ** zipf_exponent
        genre_tracks.append(members)
        genre_cdf.append(np.cumsum(weight) / weight.sum())

    artist_uris = _uris(rng, "artist", n_artists)
    album_uris = _uris(rng, "album", album_number.max() + 1)
    durations = np.clip(rng.normal(215_000, 45_000, n_tracks), 30_000, 900_000).astype(int).tolist()
    tracks = [MpdTrack(0, uri, name, artist_uris[a], artist_names[a], album_uris[b], album_names[b], ms)
              for uri, name, a, b, ms in zip(_uris(rng, "track", n_tracks), track_names,
                                             artist_of_track.tolist(), album_number.tolist(), durations)]
    return Catalog(
        tracks=tracks,
        artist_number=artist_of_track,
        album_number=album_number,
        genre=genre,
        genre_tracks=genre_tracks,
        genre_cdf=genre_cdf,
    )


def _phrases(rng, words, n: int, low: int, high: int, sep=" ") -> list[str]:
    """``n`` random phrases of ``low..high`` words."""
    lengths = rng.integers(low, high + 1, size=n).tolist()
    picks = rng.integers(len(words), size=(n, high)).tolist()
    return [sep.join(words[i] for i in row[:k]) for row, k in zip(picks, lengths)]


def _uris(rng, kind: str, n: int) -> list[str]:
    ids = _BASE62[rng.integers(62, size=(n, 22))].view("<U22").ravel()
    return [f"spotify:{kind}:{i}" for i in ids]


def playlist_lengths(rng, n: int) -> np.ndarray:
    """MPD-like lengths: log-normal with median 49 (mean ~66), clipped to 5..250."""
    return np.clip(np.rint(rng.lognormal(np.log(49), 0.83, n)), 5, 250).astype(int)


def _draw(rng, catalog: Catalog, genre: int, k: int) -> np.ndarray:
    return catalog.genre_tracks[genre][np.minimum(
        np.searchsorted(catalog.genre_cdf[genre], rng.random(k)), len(catalog.genre_tracks[genre]) - 1)]


def make_playlist_tracks(rng, catalog: Catalog, length: int) -> tuple[np.ndarray, int]:
    """Track numbers of one playlist (in order) and its main genre."""
    n_genres = len(catalog.genre_tracks)
    main, second = rng.choice(n_genres, size=2, replace=n_genres == 1)
    want = length + length // 2 + 8  # extra draws, since popular tracks come up twice
    n_main, n_second, _ = rng.multinomial(want, [0.8, 0.1, 0.1])
    draws = np.concatenate([_draw(rng, catalog, main, n_main), _draw(rng, catalog, second, n_second),
                            rng.integers(catalog.n_tracks, size=want - n_main - n_second)])
    draws = draws[rng.permutation(want)]
    _, first = np.unique(draws, return_index=True)
    tracks = draws[np.sort(first)][:length]
    if rng.random() < 0.02 and len(tracks) > 1:  # real playlists sometimes hold a track twice
        tracks = np.append(tracks, tracks[rng.integers(len(tracks))])
    return tracks, int(main)


def make_slice(catalog: Catalog, slice_no: int, playlists_per_slice: int = 1000, seed: int = 0) -> MpdSlice:
    """Slice ``slice_no``: playlists with pids ``slice_no * playlists_per_slice + 0..n-1``."""
    rng = np.random.default_rng([seed, slice_no])
    first_pid = slice_no * playlists_per_slice
    playlists = []
    for j, length in enumerate(playlist_lengths(rng, playlists_per_slice)):
        tracks, genre = make_playlist_tracks(rng, catalog, int(length))
        template = _PLAYLIST_NAMES[rng.integers(len(_PLAYLIST_NAMES))]
        entries = [msgspec.structs.replace(catalog.tracks[t], pos=pos) for pos, t in enumerate(tracks.tolist())]
        playlists.append(SyntheticPlaylist(
            pid=first_pid + j, name=template.format(g=GENRES[genre]), num_tracks=len(entries),
            tracks=entries, collaborative="false", modified_at=1_500_000_000 + int(rng.integers(10**7)),
            num_albums=len(np.unique(catalog.album_number[tracks])), num_followers=int(rng.geometric(0.5)),
            num_edits=int(rng.integers(1, 30)), duration_ms=sum(e.duration_ms for e in entries),
            num_artists=len(np.unique(catalog.artist_number[tracks]))))
    info = {"generated_on": "2017-12-03 08:41:42.057563", "version": "v1",
            "slice": f"{first_pid}-{first_pid + playlists_per_slice - 1}"}
    return MpdSlice(info=info, playlists=playlists)


def slice_filename(slice_no: int, playlists_per_slice: int = 1000) -> str:
    first = slice_no * playlists_per_slice
    return f"mpd.slice.{first}-{first + playlists_per_slice - 1}.json"


def write_synthetic_mpd(out_dir: str | os.PathLike, n_slices: int, playlists_per_slice: int = 1000,
                        n_tracks: int = 100_000, n_genres: int = 8, seed: int = 0) -> list[Path]:
    """Write ``n_slices`` MPD-format slice files into ``out_dir``; returns their paths in order.

    Files are indented like the real MPD (4 spaces), so MB/s figures compare with real slices.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalog = make_catalog(n_tracks, n_genres, seed)
    paths = []
    for slice_no in range(n_slices):
        path = out / slice_filename(slice_no, playlists_per_slice)
        document = make_slice(catalog, slice_no, playlists_per_slice, seed)
        path.write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=4))
        paths.append(path)
    return paths
