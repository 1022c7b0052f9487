"""Track search: accents, case, typos, word order, metacharacters, popularity tie-break, cache."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixture_artifacts import XSS_NAME, fixture_catalog
from recsys import Recommender
from recsys.serving import RecommendError
from recsys.serving.index import CACHE_DIR
from recsys.serving.search import TrackSearch, _codes, _one_edit_hashes, _string_hashes


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    from tests.fixture_artifacts import make_fixture_artifact

    return Recommender.load(make_fixture_artifact(tmp_path_factory.mktemp("models")))


@pytest.mark.parametrize("query, expected_name", [
    ("Hoppípolla", "Hoppípolla"),               # exact
    ("hoppipolla", "Hoppípolla"),               # accents and case
    ("DÉJÀ VU", "Déjà Vu"),
    ("deja vu beyonce", "Déjà Vu"),             # name + artist
    ("beyonce deja vu", "Déjà Vu"),             # artist first
    ("spades of ace", "Ace of Spades"),         # word order
    ("hyperbalad", "Hyperballad"),              # missing letter
    ("daft pnuk one more tmie", "One More Time"),  # transpositions
    ("beatles something", "Something"),
    ("heer comes teh sun", "Here Comes the Sun"),
    ("onerror=alert(1)", XSS_NAME),             # metacharacters in the catalog itself
    ("Sæglópur", "Sæglópur"),
])
def test_best_match_comes_first(rec, query, expected_name):
    table = rec.search(query, limit=5)
    assert table["name"].iloc[0] == expected_name, table[["name", "artist", "score"]]


@pytest.mark.parametrize("query", [".*", "(", ")", "[", "'; DROP TABLE tracks; --", "%", "_", "\\", '"', "*",
                                   "a|b", "^$", "\x00", "?" * 50, "ace of spades %", "motörhead.*"])
def test_metacharacters_are_plain_text(rec, query):
    table = rec.search(query, limit=5)
    assert list(table.columns) == ["rank", "track_id", "name", "artist", "album", "n_playlists", "score"]
    if query.startswith("ace of spades"):
        assert table["name"].iloc[0] == "Ace of Spades"
    if query.startswith("motörhead"):
        assert set(table["artist"]) == {"Motörhead"}


def test_artist_query_ties_are_broken_by_popularity(rec):
    table = rec.search("Röyksopp", limit=10)
    royksopp = table[table["artist"] == "Röyksopp"]
    assert len(royksopp) == 3 and royksopp.index.tolist() == [0, 1, 2]
    assert royksopp["score"].nunique() == 1
    assert royksopp["n_playlists"].is_monotonic_decreasing and royksopp["n_playlists"].is_unique


def test_a_cache_in_doubt_is_rebuilt_never_served(rec):
    """A cache file is used only with a matching digest sidecar and arrays that hold together;
    one whose postings name rows the catalog lacks (sidecar rewritten to match) is rebuilt."""
    import hashlib

    rec.search("bjork")
    [cached] = (rec.artifact.path / CACHE_DIR).glob("search-*.npz")
    sidecar = cached.with_name(cached.name + ".sha256")
    assert sidecar.read_text().split() == [hashlib.sha256(cached.read_bytes()).hexdigest(), cached.name]
    catalog = fixture_catalog()

    def build():
        return TrackSearch.build(catalog["name"], catalog["artist"], catalog["n_playlists"].to_numpy(),
                                 cache_dir=cached.parent, checksum=cached.stem.removeprefix("search-"))
    with np.load(cached) as saved:
        arrays = dict(saved)
    good = cached.read_bytes()
    np.savez(cached, **{**arrays, "postings": arrays["postings"] + len(catalog)})
    sidecar.write_text(f"{hashlib.sha256(cached.read_bytes()).hexdigest()}  {cached.name}\n")
    rows, _ = build().search("jóga")
    assert catalog["name"].iloc[rows[0]] == "Jóga"
    assert cached.read_bytes() == good  # rebuilt and rewritten
    sidecar.unlink()  # a file without its sidecar (a crash between the two writes) is rebuilt too
    built_at = cached.stat().st_mtime_ns
    build()
    assert cached.stat().st_mtime_ns != built_at and sidecar.is_file()


def test_hostile_queries_get_a_clear_error_fast(rec):
    import time

    from recsys.serving.recommender import MAX_QUERY_CHARS

    with pytest.raises(RecommendError, match="lone surrogate .U\\+D800 at position 4"):
        rec.search("jóga\ud800")
    started = time.perf_counter()
    with pytest.raises(RecommendError, match=f"1,000,000 characters long; at most {MAX_QUERY_CHARS}"):
        rec.search("björk " * 166_666 + "jóga")
    assert time.perf_counter() - started < 0.5
    assert len(rec.search("j" * MAX_QUERY_CHARS)) >= 0  # the cap itself is searchable


def test_spotify_id_parser_is_anchored_and_capped():
    import time

    from recsys.spotify.ids import track_uri as spotify_uri

    tid = "4uLU6hMCjMI75M1A2tKUQC"
    for text in (tid, f"spotify:track:{tid}", f"https://open.spotify.com/track/{tid}?si=abc123",
                 f"open.spotify.com/intl-de/track/{tid}"):
        assert spotify_uri(text) == f"spotify:track:{tid}", text
    for text in (f"see spotify:track:{tid}", f"https://evil.example/open.spotify.com/track/{tid}",
                 f"{tid}x", "x" * 22 + "?" + "y" * 1000):
        assert spotify_uri(text) is None, text
    hostile = ("a" * 22 + "?") * 4000 + "\nx"  # quadratic for an unanchored search: seconds
    started = time.perf_counter()
    assert spotify_uri(hostile) is None
    assert time.perf_counter() - started < 0.05


def test_limits_and_empty_queries(rec):
    assert len(rec.search("a", limit=2)) <= 2
    assert rec.search("   ", limit=5).empty
    assert rec.search("zzqqxxjj", limit=5).empty
    with pytest.raises(RecommendError, match="search query must be a string"):
        rec.search(None)
    with pytest.raises(RecommendError, match="limit must be between 1 and 1000"):
        rec.search("bjork", limit=0)


def test_index_is_cached_beside_the_artifact(rec):
    rec.search("bjork")
    cached = list((rec.artifact.path / CACHE_DIR).glob("search-*.npz"))
    assert len(cached) == 1
    catalog = fixture_catalog()
    built_at = cached[0].stat().st_mtime_ns
    again = TrackSearch.build(catalog["name"], catalog["artist"], catalog["n_playlists"].to_numpy(),
                              cache_dir=cached[0].parent, checksum=cached[0].stem.removeprefix("search-"))
    assert cached[0].stat().st_mtime_ns == built_at  # loaded, not rebuilt
    rows, _ = again.search("jóga")
    assert catalog["name"].iloc[rows[0]] == "Jóga"
    cached[0].write_bytes(b"damaged")  # rebuilt, not fatal
    rebuilt = TrackSearch.build(catalog["name"], catalog["artist"], catalog["n_playlists"].to_numpy(),
                                cache_dir=cached[0].parent, checksum=cached[0].stem.removeprefix("search-"))
    assert catalog["name"].iloc[rebuilt.search("jóga")[0][0]] == "Jóga" and cached[0].stat().st_size > 1000


def test_common_words_in_a_large_catalog():
    """20,000 tracks, a tenth named "... love ...": the common-trigram path still ranks the
    intended track first and stays within the re-rank pool."""
    rng = np.random.default_rng(0)
    words = np.array(["blue", "night", "dance", "river", "fire", "dream", "city", "heart", "gold", "rain"])
    names = [" ".join(rng.choice(words, 3)) + (" love" if i % 10 == 0 else "") for i in range(20_000)]
    artists = [f"artist {i % 500}" for i in range(20_000)]
    names[12_345] = "Crazy In Love"
    artists[12_345] = "Beyoncé"
    search = TrackSearch.build(names, artists, rng.integers(0, 100, 20_000))
    rows, scores = search.search("crazy in love beyonce", limit=10)
    assert rows[0] == 12_345 and scores[0] == 100 and (scores[1:] < 100).all()
    rows, _ = search.search("love", limit=50)
    assert len(rows) == 50 and all("love" in names[r] for r in rows)


def test_whole_words_and_the_artist_outrank_partial_matches_and_weak_ones_go():
    tracks = [("Mississippi Queen", "Mountain", 100), ("Killer Queen", "Queen", 1),
              ("Bohemian Rhapsody", "Queen", 2), ("Livin' On A Prayer", "Bon Jovi", 3),
              ("Stuck In A Dream", "Lil Mosey", 50), ("More Than A Feeling", "Boston", 40),
              ("Power", "Rapsody", 60)]
    names, artists, popularity = zip(*tracks)
    search = TrackSearch.build(list(names), list(artists), np.array(popularity))

    def found(query):
        return [names[row] for row in search.search(query, 10)[0]]

    # WRatio alone scores all three "queen" tracks 90; the most popular came first.
    assert found("queen")[:2] == ["Bohemian Rhapsody", "Killer Queen"]
    assert "Mississippi Queen" in found("queen")
    assert found("livin on a prayer") == ["Livin' On A Prayer"]
    assert found("bohemian rhapsody") == ["Bohemian Rhapsody"]
    # Without a good match, the fuzzy ones stay (a typo must still find something).
    assert "Livin' On A Prayer" in found("livn on a prayr")


# Words common in song titles, among them words sharing most letters with the famous short
# titles below, and some one edit from a query (a letter replaced: "hell" for "helo"), though
# none as close to it as the intended title.
_TITLE_WORDS = ("love you me my heart night time baby girl boy home life day world light fire dream "
                "dance run go back down up way man blue red gold sun rain sky star moon summer city "
                "road river wild free young old good bad hell yell low slow show hold help hero rock "
                "roll stone keep deep sleep cream tonic toxin angle jolly lone thrill killer heat "
                "hunt tough touch roxy rose ann dan band bomb zone").split()
# Famous short titles, each one track in the catalog.
_SHORT_TITLES = [("Hello", "Adele"), ("Yellow", "Coldplay"), ("Creep", "Radiohead"), ("Jolene", "Dolly Parton"),
                 ("Toxic", "Britney Spears"), ("Hurt", "Johnny Cash"), ("Angie", "The Rolling Stones"),
                 ("Roxanne", "The Police"), ("Thriller", "Michael Jackson"), ("Zombie", "The Cranberries")]


@pytest.fixture(scope="module")
def song_catalog():
    """30,000 tracks of one to four common title words by 2,000 artists, and the famous short
    titles at middling popularity (a popular one would win on the tie-break alone)."""
    rng = np.random.default_rng(3)
    names = [" ".join(rng.choice(_TITLE_WORDS, rng.integers(1, 5))) for _ in range(30_000)]
    artists = [f"{rng.choice(_TITLE_WORDS)} {rng.choice(_TITLE_WORDS)} {i % 2000}" for i in range(30_000)]
    popularity = rng.zipf(1.8, 30_000).clip(1, 50_000)
    for i, (name, artist) in enumerate(_SHORT_TITLES):
        names[1000 * i], artists[1000 * i], popularity[1000 * i] = name, artist, 3
    return names, TrackSearch.build(names, artists, popularity)


@pytest.mark.parametrize("query, expected", [
    ("helo", "Hello"), ("yelow", "Yellow"), ("ceep", "Creep"),      # a letter dropped
    ("jolnee", "Jolene"), ("toxci", "Toxic"), ("hrut", "Hurt"),     # two letters swapped
    ("angei", "Angie"), ("roxane", "Roxanne"),
    ("thriler", "Thriller"), ("zombje", "Zombie"), ("hallo", "Hello"),  # a letter replaced
    ("toxiic", "Toxic"), ("yelloww", "Yellow"),                      # a letter added
])
def test_a_short_title_with_one_typo_is_found_in_a_large_catalog(song_catalog, query, expected):
    names, search = song_catalog
    rows, _ = search.search(query, limit=10)
    assert expected in [names[row] for row in rows]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcé z", max_size=8))
def test_one_edit_hashes_are_the_hashes_of_every_one_edit_string(query):
    """The vectorised prefix/suffix arithmetic names exactly the strings one edit away."""
    alphabet = "abz "
    edits = {query} | {query[:i] + query[i + 1:] for i in range(len(query))}
    edits |= {query[:i] + query[i + 1] + query[i] + query[i + 2:] for i in range(len(query) - 1)}
    edits |= {query[:i] + c + query[i + 1:] for i in range(len(query)) for c in alphabet}
    edits |= {query[:i] + c + query[i:] for i in range(len(query) + 1) for c in alphabet}
    hashes = _one_edit_hashes(query, _codes(alphabet).astype(np.uint64))
    assert sorted(hashes.tolist()) == sorted(set(_string_hashes(sorted(edits)).tolist()))
