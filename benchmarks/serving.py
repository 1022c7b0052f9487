"""Serving benchmark: the production index against exact numpy brute force, in the same run.

    python -m benchmarks.serving            # 2,262,292 tracks (the full MPD) and 30,000 (default app size)
    python -m benchmarks.serving --quick    # 300,000 and 10,000: a smoke run of a minute or two
    python -m benchmarks.serving --sizes 2262292 --search-only   # the track search alone

For each catalog size it publishes a synthetic artifact (clustered 64-d embeddings, float16,
pseudo-word track and artist names), loads it with ``Recommender.load`` and prints: index kind
and build time, resident memory; ``recommend`` (5 seeds of one genre, k=20) p50/p99 with and
without building the DataFrame, the index search alone, and exact numpy brute force (1 and 2
BLAS threads); recall@100 of the index against exact results; for the largest size an nprobe
sweep, 1 vs 2 OpenMP threads per search and exact-search latency by catalog size (which sets
FLAT_MAX_ROWS); ``search`` build time, p50/p99 over 1,000 queries and how often the intended
track is found; for catalogs of the default app size, the time of the offline t-SNE map
(recsys/projection.py).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


import faiss
from threadpoolctl import threadpool_limits

from recsys import Recommender
from recsys.training.artifact_writer import write_artifact
from recsys.projection import project
from recsys.scoring import seed_query
from recsys.serving import index as index_module

FULL_MPD_TRACKS = 2_262_292
DIM = 64


def synthetic_catalog(n: int, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Clustered unit vectors shaped like trained track embeddings: 200 genre centres, n/8
    artists around their genre's centre, tracks around their artist's (Zipf-like genre and
    artist sizes); names from a pseudo-word vocabulary. Returns embeddings, catalog, genre per track."""
    rng = np.random.default_rng(seed)
    n_genres, n_artists = 200, max(10, n // 8)

    def zipf(size, exponent):
        weights = 1.0 / np.arange(1, size + 1) ** exponent
        return weights / weights.sum()

    genre_of_artist = rng.choice(n_genres, n_artists, p=zipf(n_genres, 0.8))
    genre_centres = rng.standard_normal((n_genres, DIM), dtype=np.float32)
    artist_centres = genre_centres[genre_of_artist] + rng.standard_normal((n_artists, DIM), dtype=np.float32)
    artist_of = rng.choice(n_artists, n, p=zipf(n_artists, 0.6))
    embeddings = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 500_000):  # bounded temporaries
        part = slice(start, start + 500_000)
        noise = rng.standard_normal((len(artist_of[part]), DIM), dtype=np.float32)
        embeddings[part] = artist_centres[artist_of[part]] + 0.8 * noise
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = genre_of_artist[artist_of]

    # Words of random letters drawn at English letter frequencies, used with Zipf-like
    # frequencies, so common trigrams ("the", "ing") are as skewed as in real titles.
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqzéöñ"))
    freq = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2,
                     2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.1, 0.1, 0.3, 0.2, 0.1])
    vocabulary = np.array(["".join(rng.choice(letters, rng.integers(2, 9), p=freq / freq.sum()))
                           for _ in range(60_000)], dtype=object)
    word_weights = zipf(len(vocabulary), 0.9)
    artist_names = [" ".join(w) for w in vocabulary[rng.choice(len(vocabulary), (n_artists, 2), p=word_weights)]]
    lengths = rng.integers(1, 5, n)
    words = vocabulary[rng.choice(len(vocabulary), lengths.sum(), p=word_weights)]
    names = [" ".join(chunk) for chunk in np.split(words, np.cumsum(lengths)[:-1])]
    catalog = pd.DataFrame({
        "track_id": [f"spotify:track:{i:022d}" for i in range(n)],
        "name": names,
        "artist": np.array(artist_names, dtype=object)[artist_of],
        "album": "",
        "artist_id": [f"spotify:artist:{a:022d}" for a in artist_of],
        "n_playlists": rng.zipf(1.8, n).clip(1, 50_000),
    })
    return embeddings, catalog, labels


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return f"p50 {np.percentile(ms, 50):7.3f} ms   p99 {np.percentile(ms, 99):7.3f} ms"


def timed(fn, inputs, warmup: int = 5) -> list[float]:
    for x in inputs[:warmup]:
        fn(x)
    out = []
    for x in inputs:
        start = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - start)
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def typo(text: str, rng) -> str:
    """One random edit (drop, swap or replace a letter), as a user would mistype."""
    if len(text) < 4:
        return text
    i = int(rng.integers(1, len(text) - 2))
    edit = rng.integers(0, 3)
    if edit == 0:
        return text[:i] + text[i + 1:]
    if edit == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + "x" + text[i + 1:]


def bench_catalog(n: int, n_queries: int, workdir: Path, *, sweep: bool, search_only: bool = False) -> None:
    print(f"\n=== {n:,} tracks × {DIM} (float16 artifact) ===", flush=True)
    start = time.perf_counter()
    embeddings, catalog, labels = synthetic_catalog(n)
    print(f"synthetic data           {time.perf_counter() - start:8.1f} s")
    start = time.perf_counter()
    path = write_artifact(workdir, f"synthetic{n}", embeddings=embeddings, catalog=catalog, curves=None,
                   config={"synthetic": True}, dataset_meta={"name": "synthetic"}, metrics={},
                   projection=np.zeros((n, 2), dtype=np.float32))
    print(f"publish                  {time.perf_counter() - start:8.1f} s")
    del embeddings
    rss_before = rss_mb()
    start = time.perf_counter()
    rec = Recommender.load(path)
    print(f"load + index build       {time.perf_counter() - start:8.1f} s   ({rec.index.kind}"
          + (f", {rec.index.nlist} cells, nprobe {rec.index.nprobe})" if rec.index.kind == "ivf" else ")"))
    print(f"resident memory          {rss_mb():8.0f} MB (+{rss_mb() - rss_before:.0f} MB for the Recommender)")
    if search_only:
        bench_search(rec, catalog)
        return
    start = time.perf_counter()
    Recommender.load(path)
    print(f"reload (cached index)    {time.perf_counter() - start:8.1f} s")

    rng = np.random.default_rng(1)
    members = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[members], np.arange(labels.max() + 2))
    big = np.flatnonzero(np.diff(bounds) >= 5)
    playlists = []
    for cluster in rng.choice(big, n_queries):
        rows = rng.choice(members[bounds[cluster]:bounds[cluster + 1]], 5, replace=False)
        playlists.append(rows)
    seed_ids = [catalog["track_id"].to_numpy()[rows].tolist() for rows in playlists]

    exact = np.asarray(rec.embeddings, dtype=np.float32)  # what brute force scans: n × 64 float32
    queries = [seed_query(rec.embeddings, rows) for rows in playlists]

    def brute_force(rows, k=20):
        scores = exact @ seed_query(exact, rows)
        scores[rows] = -np.inf
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    print(f"recommend (5 seeds of one genre, k=20), {n_queries} playlists:")
    print(f"  recommend()            {percentiles(timed(lambda s: rec.recommend(s, k=20), seed_ids))}"
          f"   ({rec.index.kind} index; ids, scores, because)")
    print(f"  recommend().table      {percentiles(timed(lambda s: rec.recommend(s, k=20).table, seed_ids))}"
          "   (the same plus the pandas DataFrame)")
    print(f"  index search alone     {percentiles(timed(lambda q: rec.index.search(q, 25), queries))}")
    brute_force_queries = playlists[:200]
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            print(f"  numpy brute force, {threads} BLAS thread(s) "
                  f"{percentiles(timed(brute_force, brute_force_queries))}   (exact, {len(brute_force_queries)} playlists)")

    def recall_at_100(index_search, sample=200):
        hits = []
        for q in queries[:sample]:
            truth = np.argpartition(-(exact @ q), 100)[:100]
            hits.append(len(np.intersect1d(truth, index_search(q).rows)) / 100)
        return float(np.mean(hits))

    print(f"  recall@100 vs exact    {recall_at_100(lambda q: rec.index.search(q, 100)):.4f}")

    if rec.index.kind == "ivf" and sweep:
        print("nprobe sweep (index search k=100):")
        for nprobe in (8, 16, 32, 64, 128):
            probe = rec.index.with_nprobe(nprobe)
            print(f"  nprobe {nprobe:4d}            recall@100 {recall_at_100(lambda q: probe.search(q, 100)):.4f}"
                  f"   {percentiles(timed(lambda q: probe.search(q, 100), queries))}")
    if sweep:
        print(f"OpenMP threads per search ({rec.index.kind}, k=25):")
        for threads in (1, 2):
            index_module.SEARCH_THREADS = threads
            print(f"  {threads} thread(s)            {percentiles(timed(lambda q: rec.index.search(q, 25), queries))}")
        index_module.SEARCH_THREADS = 1
        print("exact IndexFlatIP by catalog size (k=25) -> FLAT_MAX_ROWS:")
        for size in [s for s in (10_000, 30_000, 50_000, 100_000, 200_000, 500_000) if s <= n]:
            flat = faiss.IndexFlatIP(DIM)
            flat.add(exact[:size])
            flat_index = index_module.VectorIndex(flat)
            print(f"  {size:9,d} tracks        {percentiles(timed(lambda q: flat_index.search(q, 25), queries))}")
            del flat, flat_index
    del exact

    bench_search(rec, catalog)
    print(f"resident memory at end   {rss_mb():8.0f} MB")
    if n <= index_module.FLAT_MAX_ROWS:  # the default app size: time the offline 2-D map too
        start = time.perf_counter()
        layout = project(rec.embeddings)
        seconds = time.perf_counter() - start
        _, neighbours = faiss.knn(np.ascontiguousarray(layout[:3000]), np.ascontiguousarray(layout), 11)
        same_genre = (labels[neighbours[:, 1:]] == labels[:3000, None]).mean()
        print(f"projection (t-SNE, at publish) {seconds:6.1f} s   "
              f"(10 nearest on the map in the track's genre: {same_genre:.3f})")


def bench_search(rec: Recommender, catalog: pd.DataFrame, n_queries: int = 1000) -> None:
    """``search`` over random tracks, a fifth of the queries of each kind (own RNG, so
    ``--search-only`` asks the same queries as a full run)."""
    rng = np.random.default_rng(2)
    texts = catalog[["name", "artist"]].to_numpy()
    picks = rng.integers(0, len(catalog), n_queries)
    kinds = ["name", "name artist", "artist name", "name, one typo", "name artist, one typo"]
    search_queries = []
    for i, row in enumerate(picks):
        name, artist = texts[row]
        search_queries.append([name, f"{name} {artist}", f"{artist} {name}", typo(name, rng),
                               typo(f"{name} {artist}", rng)][i % 5])
    start = time.perf_counter()
    rec.search("warm up")
    print(f"search index build       {time.perf_counter() - start:8.1f} s   (then cached beside the artifact)")
    print(f"search, {len(search_queries)} queries ({' / '.join(kinds)}):")
    print(f"  Recommender.search     {percentiles(timed(lambda q: rec.search(q, 20), search_queries))}")
    # A name alone is often shared by many tracks: there, finding a track of that name counts.
    found = {kind: [] for kind in kinds}
    for i, (query, row) in enumerate(zip(search_queries, picks)):
        top = rec.search(query, 10)
        hit = (texts[row][0] in top["name"].tolist() if "artist" not in kinds[i % 5]
               else catalog["track_id"].iat[row] in top["track_id"].tolist())
        found[kinds[i % 5]].append(hit)
    print("  intended track in top 10: " + ", ".join(f"{k} {np.mean(v):.2f}" for k, v in found.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="comma-separated catalog sizes (overrides the defaults)")
    parser.add_argument("--search-only", action="store_true",
                        help="time only the track search (skips recommend, the index sweeps and t-SNE)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([300_000, 10_000] if args.quick else [FULL_MPD_TRACKS, 30_000])
    print(f"faiss {faiss.__version__}, OpenMP max threads {faiss.omp_get_max_threads()}, "
          f"FLAT_MAX_ROWS {index_module.FLAT_MAX_ROWS:,}, DEFAULT_NPROBE {index_module.DEFAULT_NPROBE}")
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as workdir:
        for n in sizes:
            bench_catalog(n, n_queries=200 if args.quick else 1000, workdir=Path(workdir),
                          sweep=n == max(sizes), search_only=args.search_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
