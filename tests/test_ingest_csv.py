"""`python -m recsys ingest csv` on the embedded file, a gzipped copy, the TidyTuesday schema and bad CSVs."""
from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.dataset import AUDIO_FEATURES, load_dataset
from recsys.ingest.csv import CsvIngestError, ingest_csv

EMBEDDED = Path(__file__).resolve().parents[1] / "data" / "tidytuesday_spotify_songs.csv.gz"


def normalised(values: pd.Series) -> pd.Series:
    """Accent-free, case-folded, single-spaced: written here with pandas, apart from recsys.text."""
    return (values.str.normalize("NFKD")
            .map(lambda s: "".join(c for c in s if not unicodedata.combining(c)))
            .str.casefold().str.replace(r"\s+", " ", regex=True).str.strip())


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, recsys_cli):
    out = tmp_path_factory.mktemp("csv") / "songs"
    done = recsys_cli("ingest", "csv", str(EMBEDDED), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out, done


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(EMBEDDED, keep_default_na=False, dtype={"track_album_release_date": str})


def test_embedded_csv_stats_match_pandas(embedded, raw, recsys_cli):
    out, done = embedded
    stats = json.loads(recsys_cli("stats", str(out)).stdout)
    pairs = raw.drop_duplicates(["playlist_id", "track_id"])
    assert stats["playlists"] == raw["playlist_id"].nunique() == 471
    assert stats["tracks"] == raw["track_id"].nunique() == 28_356
    assert stats["interactions"] == len(pairs)
    assert stats["tracks_per_playlist"]["max"] == pairs["playlist_id"].value_counts().max()
    assert sorted(stats["genres"]) == sorted(raw["playlist_genre"].unique())
    assert f"{len(raw) - len(pairs):,} repeated rows dropped" in done.stdout
    assert f"wrote {out}" in done.stdout


def test_embedded_csv_track_features(embedded, raw):
    dataset = load_dataset(embedded[0])
    assert dataset.features == ["genre", "subgenre", "popularity", "release_year", "duration_ms",
                                *AUDIO_FEATURES]
    tracks = dataset.tracks.set_index("track_id")
    assert tracks.index.str.fullmatch(r"spotify:track:[0-9A-Za-z]{22}").all()
    pairs = raw.drop_duplicates(["playlist_id", "track_id"])
    for column, label in (("playlist_genre", "genre"), ("playlist_subgenre", "subgenre")):
        counts = pairs.groupby(["track_id", column]).size()
        for track_id in pairs["track_id"].value_counts().index[:20]:  # tracks in many playlists
            assert counts[track_id][tracks.loc["spotify:track:" + track_id, label]] == counts[track_id].max()
    for date in ("2019-06-14", "2012", "1981-12"):
        row = raw[raw["track_album_release_date"] == date].iloc[0]
        track = tracks.loc["spotify:track:" + row["track_id"]]
        assert track["release_year"] == int(date[:4])
        assert track["duration_ms"] == row["duration_ms"]
        assert track["popularity"] == row["track_popularity"]
        assert track["energy"] == pytest.approx(row["energy"])
        assert track["album_id"] == "spotify:album:" + row["track_album_id"]


def test_gzipped_csv_gives_the_same_dataset(embedded, tmp_path):
    plain = tmp_path / "tidytuesday_spotify_songs.csv"
    plain.write_bytes(gzip.decompress(EMBEDDED.read_bytes()))
    dataset = ingest_csv(plain, tmp_path / "songs")
    assert dataset.meta["fingerprint"] == load_dataset(embedded[0]).meta["fingerprint"]


TIDYTUESDAY_HEADER = (
    "track_id,track_name,track_artist,track_popularity,track_album_id,track_album_name,"
    "track_album_release_date,playlist_name,playlist_id,playlist_genre,playlist_subgenre,danceability,"
    "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms"
)
TIDYTUESDAY_ROWS = [
    # A real quoted name with a comma, a repeated row, one track in two playlists of different genres.
    '6f807x0ima9a1j3VPbc7VN,"I Don\'t Care (with Justin Bieber) - Loud Luxury Remix",Ed Sheeran,66,'
    '2oCs0DGTsRO98Gh5ZSl2Cx,"I Don\'t Care (with Justin Bieber) [Loud Luxury Remix]",2019-06-14,Pop Remix,'
    '37i9dQZF1DXcZDD7cfEKhW,pop,dance pop,0.748,0.916,6,-2.634,1,0.0583,0.102,0,0.0653,0.518,122.036,194754',
    '6f807x0ima9a1j3VPbc7VN,"I Don\'t Care (with Justin Bieber) - Loud Luxury Remix",Ed Sheeran,66,'
    '2oCs0DGTsRO98Gh5ZSl2Cx,"I Don\'t Care (with Justin Bieber) [Loud Luxury Remix]",2019-06-14,Pop Remix,'
    '37i9dQZF1DXcZDD7cfEKhW,pop,dance pop,0.748,0.916,6,-2.634,1,0.0583,0.102,0,0.0653,0.518,122.036,194754',
    '0r7CVbZTWZgbTCYdfa2P31,"Memories - Dillon Francis Remix",Maroon 5,67,63rPSO264uRjW1X5E6cWv6,'
    '"Memories (Dillon Francis Remix)",2019-12,Pop Remix,37i9dQZF1DXcZDD7cfEKhW,pop,dance pop,0.726,0.815,'
    '11,-4.969,1,0.0373,0.0724,0.00421,0.357,0.693,99.972,162600',
    '0r7CVbZTWZgbTCYdfa2P31,"Memories - Dillon Francis Remix",Maroon 5,67,63rPSO264uRjW1X5E6cWv6,'
    '"Memories (Dillon Francis Remix)",2019-12,Latin Mix,3bJ9ZkHxQxzW5YFZm1C6wT,latin,reggaeton,0.726,'
    '0.815,11,-4.969,1,0.0373,0.0724,0.00421,0.357,0.693,99.972,162600',
    '0r7CVbZTWZgbTCYdfa2P31,"Memories - Dillon Francis Remix",Maroon 5,67,63rPSO264uRjW1X5E6cWv6,'
    '"Memories (Dillon Francis Remix)",2019-12,Latin Hits,5TiiHps0hNCyQ6ijVkNZQs,latin,latin pop,0.726,'
    '0.815,11,-4.969,1,0.0373,0.0724,0.00421,0.357,0.693,99.972,162600',
    '2CDwPOUNjzEbRJZXQQNDPw,"Dákiti",Bad Bunny,95,2fRKUjZWUZzZKYuvNYdwBI,"Dákiti",2020,Latin Hits,'
    '5TiiHps0hNCyQ6ijVkNZQs,latin,latin pop,0.731,0.573,4,-10.059,0,0.0544,0.401,5.22e-05,0.113,0.145,'
    '109.928,205090',
    '4VrWlk8IQxevMvERoX08iC,"Call Me ""Maybe""",Carly Rae Jepsen,,2cmYcbfKxyVavFCyQ6QlMJ,Kiss,,Latin Hits,'
    '5TiiHps0hNCyQ6ijVkNZQs,latin,latin pop,0.783,0.58,7,-6.548,1,0.0408,0.0114,2.28e-06,0.108,0.66,'
    '120.021,193400',
]


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_tidytuesday_schema_by_column_mapping(tmp_path, recsys_cli):
    source = write_csv(tmp_path / "spotify_songs_full.csv", TIDYTUESDAY_HEADER, TIDYTUESDAY_ROWS)
    done = recsys_cli("ingest", "csv", str(source), "--out", str(tmp_path / "tt"))
    assert done.returncode == 0, done.stderr
    dataset = load_dataset(tmp_path / "tt")
    assert dataset.meta["source"] == "csv:tidytuesday"
    assert dataset.playlists["playlist_id"].tolist() == [
        "spotify:playlist:37i9dQZF1DXcZDD7cfEKhW", "spotify:playlist:3bJ9ZkHxQxzW5YFZm1C6wT",
        "spotify:playlist:5TiiHps0hNCyQ6ijVkNZQs"]
    assert dataset.playlists["num_tracks"].tolist() == [2, 1, 3]  # the repeated row counted once
    tracks = dataset.tracks.set_index("track_id")
    assert tracks.index.tolist() == ["spotify:track:6f807x0ima9a1j3VPbc7VN", "spotify:track:0r7CVbZTWZgbTCYdfa2P31",
                                     "spotify:track:2CDwPOUNjzEbRJZXQQNDPw", "spotify:track:4VrWlk8IQxevMvERoX08iC"]
    memories = tracks.loc["spotify:track:0r7CVbZTWZgbTCYdfa2P31"]
    assert memories["genre"] == "latin"  # two latin playlists against one pop playlist
    assert memories["album_id"] == "spotify:album:63rPSO264uRjW1X5E6cWv6"
    assert memories["release_year"] == 2019 and memories["duration_ms"] == 162600
    assert memories["danceability"] == pytest.approx(0.726) and memories["tempo"] == pytest.approx(99.972)
    assert memories["key"] == 11 and memories["popularity"] == 67
    dakiti = tracks.loc["spotify:track:2CDwPOUNjzEbRJZXQQNDPw"]
    assert (dakiti["name"], dakiti["release_year"]) == ("Dákiti", 2020)
    assert dakiti["instrumentalness"] == pytest.approx(5.22e-05)
    maybe = tracks.loc["spotify:track:4VrWlk8IQxevMvERoX08iC"]
    assert maybe["name"] == 'Call Me "Maybe"'
    assert pd.isna(maybe["popularity"]) and pd.isna(maybe["release_year"])  # empty cells stay missing
    assert set(dataset.features) >= {"genre", "popularity", "release_year", "duration_ms", "danceability", "tempo"}


def test_csv_with_neither_schema_names_file_and_columns(tmp_path, recsys_cli):
    source = write_csv(tmp_path / "songs.csv", "title,singer,list", ["a,b,c"])
    done = recsys_cli("ingest", "csv", str(source), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert str(source) in done.stderr and "track_name" in done.stderr and "'singer'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_required_column_is_named(tmp_path):
    header = TIDYTUESDAY_HEADER.replace("playlist_id,", "")
    rows = [row.replace("37i9dQZF1DXcZDD7cfEKhW,", "") for row in TIDYTUESDAY_ROWS[:1]]
    source = write_csv(tmp_path / "partial.csv", header, rows)
    with pytest.raises(CsvIngestError, match=r"partial\.csv: missing required columns \(tidytuesday needs \['playlist_id'\]"):
        ingest_csv(source, tmp_path / "out")


def test_non_numeric_value_is_named_with_its_line(tmp_path):
    rows = list(TIDYTUESDAY_ROWS)
    rows[2] = rows[2].replace(",67,", ",sixty,")
    source = write_csv(tmp_path / "bad_number.csv", TIDYTUESDAY_HEADER, rows)
    with pytest.raises(CsvIngestError, match=r"bad_number\.csv: column 'popularity' .* first 'sixty' on line 4"):
        ingest_csv(source, tmp_path / "out")


def test_binary_file_is_refused_with_its_name(tmp_path):
    source = tmp_path / "image.csv"
    source.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50)
    with pytest.raises(CsvIngestError, match=r"image\.csv"):
        ingest_csv(source, tmp_path / "out")


SONGS_HEADER = "track_name,artist,playlist,popularity"


def test_an_unclosed_quote_is_refused_naming_the_line_it_starts_on(tmp_path, recsys_cli):
    rows = ['"One","A","Mix","50"', '"Two","B","Mix","60', '"Three","C","Road","70"', '"Four","D","Road","80"']
    source = write_csv(tmp_path / "unclosed.csv", SONGS_HEADER, rows)
    done = recsys_cli("ingest", "csv", str(source), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert f"{source}: the record starting on line 3 has a quoted field that is not closed" in done.stderr
    assert not (tmp_path / "out").exists()
    gzipped = tmp_path / "unclosed_first.csv.gz"
    gzipped.write_bytes(gzip.compress(f"{SONGS_HEADER}\n{rows[1]}\n{rows[2]}\n".encode()))
    with pytest.raises(CsvIngestError, match=r"unclosed_first\.csv\.gz: the record starting on line 2 "):
        ingest_csv(gzipped, tmp_path / "out")
    at_the_end = write_csv(tmp_path / "at_the_end.csv", SONGS_HEADER, [rows[0], rows[1]])
    with pytest.raises(CsvIngestError, match=r"at_the_end\.csv: the record starting on line 3 .*end of data"):
        ingest_csv(at_the_end, tmp_path / "out")


def test_quoted_line_breaks_and_quotes_in_fields_are_kept(tmp_path):
    rows = ['"Two\nLines","A ""the"" Band","Mix","50"', '"Plain","B","Mix\r\nTape",""']
    source = write_csv(tmp_path / "multiline.csv", SONGS_HEADER, rows)
    dataset = load_dataset(ingest_csv(source, tmp_path / "out").path)
    assert sorted(dataset.tracks["name"]) == ["Plain", "Two\nLines"]
    assert 'A "the" Band' in set(dataset.tracks["artist"])
    assert set(dataset.playlists["name"]) == {"Mix", "Mix\r\nTape"}


def test_a_field_over_the_csv_modules_default_limit_is_read(tmp_path):
    long_name = "Line one\n" + "x" * 200_000  # the line break makes the strict quote check run
    rows = [f'"{long_name}","A","Mix","50"', '"Plain","B","Mix","60"']
    source = write_csv(tmp_path / "long.csv", SONGS_HEADER, rows)
    dataset = load_dataset(ingest_csv(source, tmp_path / "out").path)
    assert sorted(dataset.tracks["name"], key=len) == ["Plain", long_name]


def test_a_first_line_with_a_field_too_many_is_refused_not_shifted(tmp_path):
    source = write_csv(tmp_path / "extra.csv", SONGS_HEADER, ['"One","A","Mix","50","x"', '"Two","B","Mix","60"'])
    with pytest.raises(CsvIngestError, match=r"extra\.csv: line 2 has more fields than the header line"):
        ingest_csv(source, tmp_path / "out")
