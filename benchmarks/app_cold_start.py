"""Cold start of the app on the default model, measured in a real browser, and the server-side
time of a recommend interaction.

    .venv/bin/python -m benchmarks.app_cold_start [--runs 3] [--interactions 30]

1. Cold start (targets: < 3 s): ``streamlit run`` is started fresh each run, with chromium
   already open; printed are the seconds from the start of the process to (a) the server's health
   check answering, (b) the Recommend page's search box rendered, (c) the first recommendation
   rendered after searching a track and pressing "Add" (Playwright types and clicks instantly).
   Next to it, the server's share: a fresh interpreter running the Recommend page with 5 seeds
   through ``AppTest`` (imports, artifact verification and loading, one script run).
2. Recommend interaction (target: < 300 ms): the Recommend page run server-side by Streamlit's
   ``AppTest`` with 5 seeds, ``k`` changed on every run so each run recommends anew; printed next
   to the bare ``Recommender.recommend`` call of the same seeds measured in the same process.
   Album art (``$RECSYS_OEMBED_URL``, Spotify's oEmbed by default) is included, once cached: one
   untimed run per k first. A page run waits for art at most ~0.25 s (recsys/app/album_art.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from recsys import artifacts
from recsys.paths import models_dir
from tests.app_server import app_test, launch_chromium, streamlit_app


ROOT = Path(__file__).resolve().parents[1]

def cold_start(query: str, runs: int) -> list[tuple[float, float, float]]:
    from playwright.sync_api import sync_playwright

    figures = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for _ in range(runs):
            page = browser.new_page()
            began = time.perf_counter()
            with streamlit_app({}) as url:
                healthy = time.perf_counter() - began
                page.goto(f"{url}/recommend")
                search = page.get_by_label("Search tracks by name or artist")
                search.wait_for(timeout=60_000)
                rendered = time.perf_counter() - began
                search.fill(query)
                search.press("Enter")
                page.get_by_role("button", name="Add", exact=True).first.click(timeout=60_000)
                page.get_by_role("button", name="Add as seed").first.wait_for(timeout=60_000)
                recommended = time.perf_counter() - began
            page.close()
            figures.append((healthy, rendered, recommended))
    return figures


FIRST_RUN = """
import sys, time
began = time.perf_counter()
from tests.app_server import app_test
app = app_test(timeout=60)
app.session_state["seeds"] = [{{"track_id": t, "name": "", "artist": ""}} for t in {seeds!r}]
app.switch_page("pages/recommend.py").run()
assert not app.exception and any(str(b.key).startswith("rec_add_") for b in app.button), app.exception
print(time.perf_counter() - began)
"""


def first_run(seed_ids: list[str], runs: int) -> list[float]:
    """Seconds from a fresh interpreter to the Recommend page rendered with recommendations,
    server side only (AppTest): the imports, artifact loading and the script run of a cold start."""
    code = FIRST_RUN.format(seeds=seed_ids)
    return [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                 cwd=ROOT).stdout.split()[-1]) for _ in range(runs)]


def interaction(models: Path, seed_ids: list[str], n: int) -> tuple[list[float], list[float]]:
    from recsys.serving import Recommender

    recommender = Recommender.load(None, models)
    bare = []
    for i in range(n):
        began = time.perf_counter()
        recommender.recommend(seed_ids, k=20 + i % 5)
        bare.append(time.perf_counter() - began)

    app = app_test(timeout=60).run()
    app.switch_page("pages/recommend.py")
    app.session_state["seeds"] = [{"track_id": t, "name": "", "artist": ""} for t in seed_ids]
    app.run()
    for i in range(10):  # one run per k first: the album art of every list is then cached
        app.slider(key="k").set_value(10 + 5 * i).run()
    page = []
    for i in range(n):
        app.slider(key="k").set_value(10 + 5 * (i % 10))
        began = time.perf_counter()
        app.run()
        page.append(time.perf_counter() - began)
        assert not app.exception, app.exception
    return page, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold starts to measure")
    parser.add_argument("--interactions", type=int, default=30, help="recommend runs to time")
    args = parser.parse_args()

    models = models_dir()
    model = artifacts.default_model(models)
    if model is None:
        print(f"{models / artifacts.DEFAULT} is missing: run `make models` first", file=sys.stderr)
        return 2
    artifact = artifacts.load_artifact(model, models)
    catalog = artifact.catalog.sort_values("n_playlists", ascending=False)
    seed_ids = catalog["track_id"].head(5).tolist()
    top = catalog.iloc[0]
    print(f"default model {model} / {artifact.version}: {len(catalog):,} tracks, "
          f"{artifact.embeddings.shape[1]} dims ({artifact.embeddings.dtype}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (chromium runs on them too)")

    figures = cold_start(f"{top['name']} {top['artist']}", args.runs)
    print(f"\ncold start, {args.runs} runs (seconds from `streamlit run`):")
    print(f"{'run':>4} {'server healthy':>15} {'page rendered':>14} {'first recommendation':>21}")
    for i, (healthy, rendered, recommended) in enumerate(figures, 1):
        print(f"{i:>4} {healthy:>15.2f} {rendered:>14.2f} {recommended:>21.2f}")
    best = min(f[2] for f in figures)
    median = statistics.median(f[2] for f in figures)
    print(f"first recommendation: median {median:.2f} s, best {best:.2f} s (target < 3 s)")

    server = first_run(seed_ids, args.runs)
    print(f"server side alone (fresh interpreter → Recommend page with recommendations, AppTest): "
          f"median {statistics.median(server):.2f} s, best {min(server):.2f} s")

    page, bare = interaction(models, seed_ids, args.interactions)
    ms = sorted(1000 * t for t in page)
    print(f"\nrecommend interaction, server side, {len(ms)} runs of the Recommend page (5 seeds):")
    print(f"  page run     p50 {statistics.median(ms):7.1f} ms   p95 {ms[int(0.95 * (len(ms) - 1))]:7.1f} ms"
          "   (target < 300 ms)")
    bare_ms = sorted(1000 * t for t in bare)
    print(f"  recommend()  p50 {statistics.median(bare_ms):7.2f} ms   p95 "
          f"{bare_ms[int(0.95 * (len(bare_ms) - 1))]:7.2f} ms   (the call alone, same process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
