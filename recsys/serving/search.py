"""Track search by name and/or artist: a trigram inverted index and a one-typo name lookup, then
a fuzzy re-rank.

Every track's text is ``normalize_text(name + " " + artist)`` (case- and accent-free). The index
maps each character trigram to the sorted rows containing it (the approach of PostgreSQL's
pg_trgm). A query's trigrams vote for rows; the best-covered few hundred, popular ones first
among equals, join the most popular tracks whose whole name is the query or one edit (a letter
dropped, swapped, replaced or added) away from it: one typo costs a short name most of its
trigrams. These are re-scored with rapidfuzz's ``WRatio`` (handles typos, partial matches and
word order), then ranked by that score plus what WRatio cannot tell apart (it gives "queen" 90
against "Killer Queen — Queen" and "Mississippi Queen — Mountain" alike): the share of the
query's words found as whole words, and whether the query is (nearly) the artist or the name, or
the name with one typo. When good matches exist, weak ones (well below the best, and none of
these field matches) are dropped: "livin on a prayer" finds Bon Jovi and no longer lists every
track with "a" or "on" in it. Ties are broken by how close the query is to the name or artist
("helo": "Hello" before "Help"), then by popularity. The query is never interpreted as a
pattern, so regex or SQL metacharacters are just characters.

Built from 2.26M tracks in well under a minute and cached (numpy ``.npz``, no pickle) beside the
artifact under the catalog's checksum, with a digest sidecar; a cache that fails its digest or
its invariants is rebuilt.
"""
from __future__ import annotations

import os
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from recsys.files import cache_file_intact, write_cache_file
from recsys.text import normalize_text

# Rows re-scored by rapidfuzz per query (WRatio costs ~5 µs a row).
RERANK_POOL = 200
# Only the query's rarest trigrams vote: they identify a track best and have the shortest
# posting lists. At most MAX_QUERY_TRIGRAMS of them, and no more postings than VOTE_BUDGET
# once MIN_RARE_TRIGRAMS have voted (a query of common words still gets its rarest three).
MAX_QUERY_TRIGRAMS = 12
MIN_RARE_TRIGRAMS = 3
VOTE_BUDGET = 100_000
# A query of NEAR_MIN_CHARS to NEAR_MAX_CHARS is also looked up as a whole name one edit away (a
# letter dropped, swapped, replaced or added; replaced or added from the catalog's EDIT_ALPHABET
# most frequent characters): one typo costs a short name most of its trigrams, and at 2.26M
# tracks the intended one was then outvoted (one-typo names found in the top 10: 76% -> 92%).
# The NEAR_PER_NAME most popular rows of each such name, at most NEAR_ROWS, join the re-rank.
NEAR_MIN_CHARS = 3
NEAR_MAX_CHARS = 40
EDIT_ALPHABET = 40
NEAR_PER_NAME = 10
NEAR_ROWS = 100
# WRatio below this is noise (unrelated strings sharing a few letters).
MIN_SCORE = 55.0
# Ranking bonuses on top of WRatio: all the query's words present as whole words (scaled by the
# share present), and the query matching the whole artist or the whole name (ratio >= FIELD_MATCH)
# or the name within one edit.
WORDS_BONUS = 10.0
FIELD_BONUS = 10.0
FIELD_MATCH = 90.0
# Once a result ranks at GOOD_RANK or more, results more than WEAK_GAP below the best are dropped,
# unless they match a field as above ("livin on a prayer": Bon Jovi ranks 105.5, tracks sharing
# only "a" 88).
GOOD_RANK = 95.0
WEAK_GAP = 12.0
_WORD = re.compile(r"\w+")
_SEPARATOR = "\x00"
# Names are looked up by a polynomial hash mod 2**64: a collision only adds a row to the re-rank.
_HASH_BASE = np.uint64(0x100000001B3)


class TrackSearch:
    """Search over the normalised "name artist" text of every catalog row."""

    ARRAYS = ("text_blob", "text_offsets", "artist_offsets", "alphabet", "trigrams", "posting_offsets",
              "postings", "popularity_rank", "name_keys", "name_rows", "edit_alphabet")

    def __init__(self, arrays: dict[str, np.ndarray]):
        self._blob = arrays["text_blob"].tobytes()
        self._text_offsets = arrays["text_offsets"]
        self._artist_offsets = arrays["artist_offsets"]  # where each row's artist starts in the blob
        self._alphabet = arrays["alphabet"]              # code points with their own symbol
        self._trigrams = arrays["trigrams"]              # sorted packed trigram keys
        self._posting_offsets = arrays["posting_offsets"]
        self._postings = arrays["postings"]              # int32 rows, grouped by trigram
        self._popularity_rank = arrays["popularity_rank"]  # higher = more popular, unique per row
        self._name_keys = arrays["name_keys"]            # sorted hashes of the rows' names
        self._name_rows = arrays["name_rows"]            # the rows, most popular first per name
        self._edit_alphabet = arrays["edit_alphabet"].astype(np.uint64)
        self.n_rows = len(self._text_offsets) - 1
        self._char_bits = _char_bits(self.n_rows)

    @classmethod
    def build(cls, names, artists, popularity: np.ndarray, *, cache_dir: str | os.PathLike | None = None,
              checksum: str | None = None) -> "TrackSearch":
        """Index the catalog (``popularity`` is the tie-break, e.g. n_playlists); load it from
        ``cache_dir/search-<checksum>.npz`` when present, else build and save it there."""
        cached = Path(cache_dir) / f"search-{checksum}.npz" if cache_dir and checksum else None
        if cached is not None:
            arrays = _read_cached(cached, len(popularity))
            if arrays is not None:
                return cls(arrays)
        texts, artist_starts, names = _normalized_texts(names, artists)
        arrays = _build_arrays(texts, names, np.asarray(popularity))
        arrays["artist_offsets"] = arrays["text_offsets"][:-1] + np.asarray(artist_starts, dtype=np.int64)
        if cached is not None:
            try:
                write_cache_file(cached, lambda f: np.savez(f, **arrays), replaces="search-*.npz")
            except OSError as exc:  # read-only deployment: serve anyway, rebuild next time
                warnings.warn(f"{cached}: search index not cached ({exc})", stacklevel=2)
        return cls(arrays)

    def text(self, row: int) -> str:
        return self._blob[self._text_offsets[row]:self._text_offsets[row + 1]].decode()

    def search(self, query: str, limit: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores 0..100) of the best matches for ``query``, best first."""
        normalized = normalize_text(query)
        if not normalized or limit <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        candidates = np.union1d(self._candidates(normalized), self._near_names(normalized))
        if len(candidates) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        texts = [self.text(row) for row in candidates]
        scores = process.cdist([normalized], texts, scorer=fuzz.WRatio, dtype=np.float32)[0]
        keep = scores >= MIN_SCORE
        candidates, scores = candidates[keep], scores[keep]
        bonus, field, closeness = self._bonus(normalized, candidates)
        rank = scores + bonus
        if len(rank) and rank.max() >= GOOD_RANK:
            strong = (rank >= rank.max() - WEAK_GAP) | field
            candidates, scores, rank, closeness = (candidates[strong], scores[strong], rank[strong],
                                                   closeness[strong])
        order = np.lexsort((-self._popularity_rank[candidates], -closeness, -rank))[:limit]
        return candidates[order], scores[order].astype(np.float64)

    def _bonus(self, normalized: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's ranking bonus, whether the query is (nearly) its whole name or artist, and
        how close it is to the closer of the two (rapidfuzz ``ratio``)."""
        words = set(_WORD.findall(normalized))
        typo_allowed = NEAR_MIN_CHARS <= len(normalized) <= NEAR_MAX_CHARS
        bonus = np.zeros(len(rows), dtype=np.float32)
        field = np.zeros(len(rows), dtype=bool)
        closeness = np.zeros(len(rows), dtype=np.float32)
        for i, row in enumerate(rows):
            start, split, end = (self._text_offsets[row], self._artist_offsets[row],
                                 self._text_offsets[row + 1])
            name, artist = self._blob[start:split].decode().strip(), self._blob[split:end].decode()
            if words:
                bonus[i] = WORDS_BONUS * len(words & set(_WORD.findall(name + " " + artist))) / len(words)
            closeness[i] = max(fuzz.ratio(normalized, artist), fuzz.ratio(normalized, name))
            field[i] = closeness[i] >= FIELD_MATCH or (
                typo_allowed and OSA.distance(normalized, name, score_cutoff=1) <= 1)
        return bonus + FIELD_BONUS * field, field, closeness

    def _near_names(self, normalized: str) -> np.ndarray:
        """The most popular rows whose whole name is ``normalized`` or one edit away from it."""
        if not NEAR_MIN_CHARS <= len(normalized) <= NEAR_MAX_CHARS:
            return np.zeros(0, np.int64)
        keys = _one_edit_hashes(normalized, self._edit_alphabet)
        # The first NEAR_PER_NAME slots from where each key would go, kept where they hold it.
        slots = np.searchsorted(self._name_keys, keys)[:, None] + np.arange(NEAR_PER_NAME)
        slots = np.minimum(slots, self.n_rows - 1)
        rows = np.unique(self._name_rows[slots[self._name_keys[slots] == keys[:, None]]])
        if len(rows) > NEAR_ROWS:
            rows = rows[np.argpartition(-self._popularity_rank[rows], NEAR_ROWS)[:NEAR_ROWS]]
        return rows.astype(np.int64)

    def _candidates(self, normalized: str) -> np.ndarray:
        symbols = _symbols(_codes(f" {normalized} "), self._alphabet)
        keys = np.unique(_trigram_keys(symbols, self._char_bits))
        slots = np.searchsorted(self._trigrams, keys)
        found = slots < len(self._trigrams)
        found[found] = self._trigrams[slots[found]] == keys[found]
        slots = slots[found]
        if len(slots) == 0:
            return np.zeros(0, np.int64)
        starts, ends = self._posting_offsets[slots], self._posting_offsets[slots + 1]
        by_rarity = np.argsort(ends - starts, kind="stable")[:MAX_QUERY_TRIGRAMS]
        within_budget = np.cumsum((ends - starts)[by_rarity]) <= VOTE_BUDGET
        within_budget[:MIN_RARE_TRIGRAMS] = True
        hits = np.concatenate([self._postings[starts[i]:ends[i]] for i in by_rarity[within_budget]])
        # Posting lists are sorted: a stable sort (timsort) merges the runs in near-linear time.
        hits.sort(kind="stable")
        first = np.flatnonzero(np.concatenate(([True], hits[1:] != hits[:-1])))
        rows, votes = hits[first], np.diff(np.append(first, len(hits)))
        if len(rows) > RERANK_POOL:
            priority = votes.astype(np.int64) * self.n_rows + self._popularity_rank[rows]
            rows = rows[np.argpartition(-priority, RERANK_POOL)[:RERANK_POOL]]
        return rows.astype(np.int64)


def _normalized_texts(names, artists) -> tuple[list[str], list[int], list[str]]:
    """normalize_text(name + " " + artist) per row, where the artist starts in it (in UTF-8
    bytes) and the normalised name, normalising each distinct value once (names and above all
    artists repeat: a third of the work at MPD scale)."""
    cache: dict[object, str] = {}

    def norm(value):
        if value not in cache:
            cache[value] = normalize_text(value)
        return cache[value]

    texts, artist_starts, normalized_names = [], [], []
    for name, artist in zip(names, artists):
        name, artist = norm(name), norm(artist)
        texts.append(" ".join(part for part in (name, artist) if part))
        artist_starts.append(len(texts[-1].encode()) - len(artist.encode()))
        normalized_names.append(name)
    return texts, artist_starts, normalized_names


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _row_bits(n_rows: int) -> int:
    return max(1, (n_rows - 1).bit_length())


def _char_bits(n_rows: int) -> int:
    """Bits per character symbol so that a trigram (3 symbols) and a row fit in one int64."""
    return min(21, (63 - _row_bits(n_rows)) // 3)


def _symbols(codes: np.ndarray, alphabet: np.ndarray) -> np.ndarray:
    """Code point -> its position in ``alphabet`` + 1; characters outside it share symbol 0."""
    slots = np.searchsorted(alphabet, codes)
    slots = np.minimum(slots, len(alphabet) - 1)
    return np.where(alphabet[slots] == codes, slots + 1, 0).astype(np.int64)


def _trigram_keys(symbols: np.ndarray, char_bits: int) -> np.ndarray:
    return (symbols[:-2] << (2 * char_bits)) | (symbols[1:-1] << char_bits) | symbols[2:]


def _powers(n: int) -> np.ndarray:
    """_HASH_BASE ** 0 .. n-1 (n >= 1), mod 2**64: uint64 array arithmetic wraps."""
    factors = np.full(n, _HASH_BASE)
    factors[0] = 1
    return np.cumprod(factors)


def _string_hashes(strings: list[str], chunk: int = 500_000) -> np.ndarray:
    """sum(code[j] * _HASH_BASE ** (len - 1 - j)) mod 2**64 of each string, vectorised."""
    hashes = np.zeros(len(strings), dtype=np.uint64)
    powers = _powers(max(map(len, strings), default=0) + 1)
    for start in range(0, len(strings), chunk):
        part = strings[start:start + chunk]
        lengths = np.fromiter(map(len, part), np.int64, len(part))
        if not lengths.any():
            continue
        codes = _codes("".join(part)).astype(np.uint64)
        ends = np.cumsum(lengths)
        terms = codes * powers[np.repeat(ends, lengths) - 1 - np.arange(len(codes))]
        nonempty = lengths > 0
        hashes[start:start + len(part)][nonempty] = np.add.reduceat(terms, (ends - lengths)[nonempty])
    return hashes


def _one_edit_hashes(text: str, alphabet: np.ndarray) -> np.ndarray:
    """The hashes (as ``_string_hashes``) of ``text`` and of every string one edit away: each
    character dropped, each neighbouring pair swapped, each character replaced by and each gap
    filled with each code point of ``alphabet`` (uint64), from prefix and suffix hashes without
    building the strings."""
    codes = _codes(text).astype(np.uint64)
    m = len(codes)
    powers = _powers(m + 2)
    prefix = [0]  # hash of codes[:i], in Python ints (numpy warns when a scalar wraps)
    for code in codes.tolist():
        prefix.append((prefix[-1] * int(_HASH_BASE) + code) % 2 ** 64)
    prefix = np.array(prefix, dtype=np.uint64)
    whole, at = prefix[m], np.arange(m)
    suffix = whole - prefix * powers[m - np.arange(m + 1)]  # hash of codes[i:]
    dropped = prefix[:-1] * powers[m - 1 - at] + suffix[1:]
    pair = at[:-1]
    swapped = (whole + (codes[pair + 1] - codes[pair]) * powers[m - 1 - pair]
               + (codes[pair] - codes[pair + 1]) * powers[m - 2 - pair])
    replaced = whole + (alphabet[None, :] - codes[:, None]) * powers[m - 1 - at][:, None]
    gap = np.arange(m + 1)
    added = ((prefix * powers[m + 1 - gap])[:, None] + alphabet[None, :] * powers[m - gap][:, None]
             + suffix[:, None])
    return np.unique(np.concatenate([[whole], dropped, swapped, replaced.ravel(), added.ravel()]))


def _build_arrays(texts: list[str], names: list[str], popularity: np.ndarray) -> dict[str, np.ndarray]:
    n = len(texts)
    encoded = [t.encode() for t in texts]
    text_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=text_offsets[1:])
    # All texts as one code-point array, each padded with spaces (so a word's first and last
    # letters make trigrams) and separated by NUL; trigrams touching a NUL are dropped.
    padded = [f" {t} " for t in texts]
    codes = _codes(_SEPARATOR.join(padded))
    row_of_code = np.repeat(np.arange(n, dtype=np.int64), [len(p) + 1 for p in padded])[:len(codes)]
    valid = (codes[:-2] != 0) & (codes[1:-1] != 0) & (codes[2:] != 0)
    # The most frequent characters get their own symbol; a catalog with more distinct
    # characters than fit (rare scripts at 2M+ rows) shares one symbol for the rarest, which
    # only widens the candidate set: the re-rank compares the real text.
    char_bits, row_bits = _char_bits(n), _row_bits(n)
    counts = np.bincount(codes)
    counts[0] = 0
    present = np.flatnonzero(counts)
    by_frequency = present[np.argsort(-counts[present], kind="stable")]
    alphabet = np.sort(by_frequency[:2 ** char_bits - 1])
    edit_alphabet = by_frequency[:EDIT_ALPHABET].astype(np.int64)
    keys = _trigram_keys(_symbols(codes, alphabet), char_bits)[valid]
    del codes
    # One sort of (trigram, row) packed into an int64 groups the postings and orders each list.
    packed = np.sort((keys << row_bits) | row_of_code[:-2][valid])
    del keys, row_of_code, valid
    packed = packed[np.r_[True, packed[1:] != packed[:-1]]]  # one posting per (trigram, row)
    keys = packed >> row_bits
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    popularity_rank = np.empty(n, dtype=np.int64)
    popularity_rank[np.argsort(popularity, kind="stable")] = np.arange(n)
    name_keys = _string_hashes(names)
    name_rows = np.lexsort((-popularity_rank, name_keys))
    return {
        "text_blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "text_offsets": text_offsets,
        "alphabet": alphabet.astype(np.int64),
        "trigrams": keys[starts],
        "posting_offsets": np.r_[starts, len(keys)].astype(np.int64),
        "postings": (packed & ((1 << row_bits) - 1)).astype(np.int32),
        "popularity_rank": popularity_rank,
        "name_keys": name_keys[name_rows],
        "name_rows": name_rows.astype(np.int32),
        "edit_alphabet": edit_alphabet,
    }


def _read_cached(path: Path, n_rows: int) -> dict[str, np.ndarray] | None:
    """The cached arrays when the file is intact (sidecar digest) and they hold together (see
    ``_consistent``); None on any doubt (damaged, from an older layout, hand-made), and the
    caller rebuilds."""
    if not cache_file_intact(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in TrackSearch.ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return arrays if _consistent(arrays, n_rows) else None


def _consistent(a: dict[str, np.ndarray], n_rows: int) -> bool:
    """The invariants ``search`` relies on: types, lengths, sorted offsets and keys, postings
    that name real rows, and one popularity rank per row."""
    kinds = {"text_blob": "u", "text_offsets": "i", "artist_offsets": "i", "alphabet": "i", "trigrams": "i",
             "posting_offsets": "i", "postings": "i", "popularity_rank": "i", "name_keys": "u", "name_rows": "i",
             "edit_alphabet": "i"}
    if any(a[name].ndim != 1 or a[name].dtype.kind != kind for name, kind in kinds.items()):
        return False
    text, postings, offsets = a["text_offsets"], a["postings"], a["posting_offsets"]
    return bool(
        len(text) == n_rows + 1 and text[0] == 0 and text[-1] == len(a["text_blob"])
        and (np.diff(text) >= 0).all()
        and len(offsets) == len(a["trigrams"]) + 1 and offsets[0] == 0 and offsets[-1] == len(postings)
        and (np.diff(offsets) >= 0).all() and (np.diff(a["trigrams"]) > 0).all()
        and (np.diff(a["alphabet"]) > 0).all()
        and (len(postings) == 0 or (postings.min() >= 0 and postings.max() < n_rows))
        and len(a["popularity_rank"]) == n_rows
        and len(a["name_keys"]) == len(a["name_rows"]) == n_rows and (a["name_keys"][1:] >= a["name_keys"][:-1]).all()
        and (n_rows == 0 or (a["name_rows"].min() >= 0 and a["name_rows"].max() < n_rows))
        and (np.sort(a["popularity_rank"]) == np.arange(n_rows)).all())
