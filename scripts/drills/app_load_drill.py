"""App load drill: N simulated users drive the Recommend page of a running ``streamlit run`` in
headless chromium (Playwright), N = 1, 2, 4, ... until errors appear or the page gets too slow.

    python -m scripts.drills.app_load_drill                          # the 2.26M-track catalog of load_drill.py
    python -m scripts.drills.app_load_drill --users 1,2,4 --rounds 2 --models-dir models

Each user opens /recommend in its own browser context (its own Streamlit session), then for
``--rounds`` rounds: searches a catalog track's name, presses Add on the first hit, waits for the
recommendations table, and clears the seeds. Timed per interaction, from the action to the
element it brings: page load (until the search box), search (until the first Add button),
recommend (until the table), clear (until the empty-seeds note). Any timeout, Streamlit
exception box or error box counts as an error. The step with N users starts when every user's
page has loaded, so all of them interact at once.

Each user also checks that it got its own answers: after Add, its page lists exactly one seed,
the track it picked, and the recommendations it downloads (the table's CSV) were all made
"because you picked" that track. A round that passes every check is a hit. The drill fails when
any step with at most ``--min-users`` users (default 4) has an error or a user with fewer hits
than rounds; errors above that count are reported as the machine's limit.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from playwright.async_api import async_playwright

from recsys import artifacts
from tests.app_server import CHROMIUM, CHROMIUM_ARGS, streamlit_app

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 120_000
TOO_SLOW_SECONDS = 30.0  # stop adding users once the median interaction is slower than this
MIN_USERS = 4


def search_terms(models_dir: Path, n: int, seed: int = 0) -> list[str]:
    """Names of popular tracks of the default model (popular: their search hits come first)."""
    path = artifacts.resolve(artifacts.default_model(models_dir), models_dir)
    catalog = pd.read_parquet(path / artifacts.CATALOG, columns=["name", "n_playlists"])
    popular = catalog.nlargest(2000, "n_playlists")["name"]
    popular = popular[popular.str.len() >= 4]
    return popular.sample(n, random_state=seed).tolist()


async def timed(log: dict, what: str, action) -> None:
    began = time.perf_counter()
    await action
    log[what].append(time.perf_counter() - began)


async def own_answers(page, term: str) -> str | None:
    """None when the page shows this user's own seed and recommendations; else what is wrong."""
    seeds = page.get_by_test_id("stHorizontalBlock").filter(has=page.get_by_role("button", name="Remove"))
    texts = await seeds.all_inner_texts()
    if len(texts) != 1 or term.casefold() not in texts[0].casefold():
        return f"seeds shown after adding {term!r}: {texts!r}"
    async with page.expect_download() as download:
        await page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    table = pd.read_csv(io.BytesIO(Path(await (await download.value).path()).read_bytes()))
    because = set(table["Because you picked"])
    if len(because) != 1 or next(iter(because)) not in texts[0]:
        return f"recommendations for {term!r} were made because of {sorted(because)[:3]!r}"
    return None


async def one_user(browser, url: str, terms: list[str], rounds: int, log: dict, errors: list,
                   ready: asyncio.Barrier, hits: list) -> None:
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        box = page.get_by_label("Search tracks by name or artist")
        began = time.perf_counter()
        await page.goto(f"{url}/recommend")
        await box.wait_for()
        log["page load"].append(time.perf_counter() - began)
        await ready.wait()
        for term in terms[:rounds]:
            await box.fill(term)
            # A hit row for this term (the previous term's hits stay on screen until the rerun).
            hit = page.get_by_test_id("stHorizontalBlock").filter(has=page.get_by_text(term, exact=False))
            add = hit.get_by_role("button", name="Add").first
            await timed(log, "search", _then_visible(box.press("Enter"), add))
            table = page.get_by_test_id("stDataFrame")
            await timed(log, "recommend", _then_visible(add.click(), table))
            wrong = await own_answers(page, term)
            if wrong:
                errors.append(wrong)
            empty = page.get_by_text("No seeds yet", exact=False)
            await timed(log, "clear seeds", _then_visible(
                page.get_by_role("button", name="Clear all seeds").click(), empty))
            broken = await page.get_by_test_id("stException").count()
            if broken:
                errors.append(f"Streamlit exception on the page after searching {term!r}")
            if not wrong and not broken:
                hits.append(term)
    except Exception as exc:  # timeouts and page errors are what the drill counts
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        await context.close()


async def _then_visible(action, locator) -> None:
    await action
    await locator.wait_for(state="visible")


async def step(url: str, users: int, rounds: int, terms: list[str]) -> tuple[dict, list, float, list]:
    log, errors, hits = defaultdict(list), [], [[] for _ in range(users)]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        ready = asyncio.Barrier(users)
        began = time.perf_counter()
        await asyncio.gather(*(one_user(browser, url, terms[i * rounds:(i + 1) * rounds], rounds, log, errors, ready,
                                        hits[i]) for i in range(users)))
        seconds = time.perf_counter() - began
        await browser.close()
    return log, errors, seconds, [len(h) for h in hits]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,2,4,8,16", help="user counts to try, in order")
    parser.add_argument("--rounds", type=int, default=3, help="search-add-recommend-clear rounds per user")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "benchmarks" / "out" / "load-drill" / "models")
    parser.add_argument("--min-users", type=int, default=MIN_USERS,
                        help="users that must all complete every round without an error (default %(default)s)")
    args = parser.parse_args()
    counts = [int(n) for n in args.users.split(",")]
    terms = search_terms(args.models_dir, max(counts) * args.rounds)
    model = artifacts.default_model(args.models_dir)
    print(f"app on {args.models_dir} (default model {model}); chromium {CHROMIUM}")
    held, failed = 0, False
    with streamlit_app({"RECSYS_MODELS_DIR": str(args.models_dir)}, timeout=300) as url:
        # The first visit loads the model into the server's cache; later sessions share it.
        began = time.perf_counter()
        asyncio.run(step(url, 1, 0, terms))
        print(f"first page load (model loaded into the server): {time.perf_counter() - began:.1f} s")
        for users in counts:
            log, errors, seconds, hits = asyncio.run(step(url, users, args.rounds, terms))
            interactions = sum(len(v) for k, v in log.items() if k != "page load")
            figures = "  ".join(f"{what} p50 {np.median(v):.2f} s p99 {np.percentile(v, 99):.2f} s"
                                for what, v in log.items())
            print(f"{users:3d} users: {interactions} interactions in {seconds:.0f} s, {len(errors)} errors, "
                  f"rounds with own answers per user {hits} (of {args.rounds})  {figures}")
            for error in errors[:3]:
                print(f"      error: {error}")
            slow = [np.median(v) for k, v in log.items() if k != "page load" and v]
            if errors or min(hits) < args.rounds:
                # Up to --min-users every round must succeed; above, errors are the machine's limit.
                failed = users <= args.min_users
                break
            held = users
            if slow and max(slow) > TOO_SLOW_SECONDS:
                print(f"      median interaction over {TOO_SLOW_SECONDS:.0f} s: stopping here")
                break
    print(f"users served without an error: {held} (minimum {args.min_users}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    failed = failed or held < min(args.min_users, max(counts))
    print("DRILL PASSED" if not failed else f"DRILL FAILED: fewer than {args.min_users} users served without an error")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
