"""End to end in a real browser: Playwright drives Debian's chromium against ``streamlit run`` on
a free local port, serving the fixture artifact, with Spotify login pointed at the fake Spotify
server on 127.0.0.1. Screenshots go to tests/artifacts/ (git-ignored)."""
from __future__ import annotations

import os
import re

import pytest
from tests.app_server import CHROMIUM, ROOT, free_port, launch_chromium, streamlit_app
from tests.fake_spotify import FakeSpotify
from tests.fixture_artifacts import XSS_NAME, make_fixture_artifact, track_id_of
from test_app import fake_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
SCREENSHOTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 20_000
DESKTOP, PHONE = (1366, 900), (390, 844)
# Set to a folder (docs/img) to save the README's screenshots there.
README_SHOTS = os.environ.get("RECSYS_README_SCREENSHOTS")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    models = tmp_path_factory.mktemp("browser") / "models"
    make_fixture_artifact(models)
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/"
    with FakeSpotify(fake_world(), redirect_uris=[redirect_uri]) as fake:
        env = {**fake.env(), "SPOTIFY_REDIRECT_URI": redirect_uri, "RECSYS_MODELS_DIR": str(models),
               "RECSYS_OEMBED_URL": ""}
        with streamlit_app(env, port=port) as url:
            yield url


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser session; fails the test if any JavaScript dialog opens."""
    width, height = getattr(request, "param", DESKTOP)
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    dialogs = []
    context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page = context.new_page()
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for i, open_page in enumerate(context.pages):
        open_page.screenshot(path=SCREENSHOTS / f"{request.node.name}-{i}.png", full_page=True)
    context.close()
    assert dialogs == [], f"a script ran in the page: {dialogs}"


def snap(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def search(page, query: str) -> None:
    box = page.get_by_label("Search tracks by name or artist")
    box.fill(query)
    box.press("Enter")


def row(page, text: str):
    """The search-result or seed row showing ``text`` (the innermost horizontal block holding it:
    the page's own columns hold it too)."""
    return page.get_by_test_id("stHorizontalBlock").filter(has=page.get_by_text(text, exact=True)).last


def spotify_id(name: str) -> str:
    return track_id_of(name).rsplit(":", 1)[1]


def readme_shot(page, name: str) -> None:
    if README_SHOTS:
        page.screenshot(path=f"{README_SHOTS}/{name}.png")


def test_search_add_seed_and_recommend_shows_html_as_text(page, app_url):
    # The server's first page load, straight to /recommend: the entrypoint (model picker) must
    # still run although a pages/ folder exists (see recsys.app.session).
    page.goto(f"{app_url}/recommend")
    expect(page.get_by_text("No seeds yet", exact=False)).to_be_visible()
    search(page, "röyksopp")
    xss_row = f"{XSS_NAME} — Röyksopp"
    expect(page.get_by_text(xss_row, exact=True)).to_be_visible()
    # Each search result links to its Spotify page, in a new tab.
    eple = page.locator(f"a[href='https://open.spotify.com/track/{spotify_id('Eple')}']").first
    expect(eple).to_have_attribute("target", "_blank")
    row(page, xss_row).get_by_role("button", name="Add").click()
    row(page, "Eple — Röyksopp").get_by_role("button", name="Add").click()

    # The result of "Add" is on screen at 1366×900, not below the fold.
    expect(page.get_by_role("heading", name="Recommendations")).to_be_in_viewport()
    # Both seeds listed, the HTML one literally; nothing from it became an element.
    expect(row(page, xss_row).get_by_role("button", name="Remove")).to_be_visible()
    expect(row(page, "Eple — Röyksopp").get_by_role("button", name="Remove")).to_be_visible()
    assert page.locator("img[src='x']").count() == 0
    # One player, on the first recommendation (the seeds' artist's remaining track).
    player = page.locator("iframe[src*='open.spotify.com/embed/']")
    expect(player).to_have_count(1)
    expect(player).to_have_attribute("src", f"https://open.spotify.com/embed/track/{spotify_id('Poor Leno')}")
    expect(page.get_by_text("Poor Leno", exact=True).first).to_be_in_viewport()
    poor_leno = page.locator(f"a[href='https://open.spotify.com/track/{spotify_id('Poor Leno')}']").last
    expect(poor_leno).to_have_attribute("target", "_blank")
    expect(page.get_by_test_id("stDownloadButton")).to_be_visible()
    readme_shot(page, "recommend")

    # The seeds live in the URL: a reload (a new session) keeps them.
    page.wait_for_url(re.compile(f"seeds=.*{spotify_id('Eple')}"))
    page.reload()
    expect(row(page, "Eple — Röyksopp").get_by_role("button", name="Remove")).to_be_visible()
    expect(row(page, xss_row).get_by_role("button", name="Remove")).to_be_visible()


def finished_run(page) -> None:
    """Wait until the script run is over and its elements are drawn (some, like st.html, render
    a moment after the run ends)."""
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for()
    page.wait_for_timeout(1000)


WIDER_THAN_VIEWPORT = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().width > window.innerWidth + 1)
  .map(e => e.tagName + '.' + (e.getAttribute('data-testid') || e.className))"""


@pytest.mark.parametrize("page", [PHONE], indirect=True)
def test_phone_width_fits_on_recommend_and_home(page, app_url):
    seeds = ",".join(spotify_id(n) for n in ("Eple", "Jóga"))
    page.goto(f"{app_url}/recommend?seeds={seeds}&k=10")
    expect(page.locator("iframe[src*='open.spotify.com/embed/']")).to_have_count(1)
    finished_run(page)
    assert page.evaluate(WIDER_THAN_VIEWPORT) == []
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Playlist continuation")).to_be_visible()
    finished_run(page)
    assert page.evaluate(WIDER_THAN_VIEWPORT) == []


def test_spotify_login_gives_liked_track_recommendations(page, app_url):
    page.goto(f"{app_url}/my_spotify")
    login = page.get_by_role("link", name=re.compile("Log in with Spotify"))
    expect(login).to_be_visible()
    with page.context.expect_page() as opened:  # the login opens top-level, in a new tab
        login.click()
    spotify_tab = opened.value
    spotify_tab.wait_for_url(re.compile(r"/my_spotify$"), timeout=TIMEOUT_MS)
    expect(spotify_tab.get_by_text("Logged in to Spotify as Alice.")).to_be_visible()
    expect(spotify_tab.get_by_text("Logged in as Alice", exact=True)).to_be_visible()
    expect(spotify_tab.get_by_text("4 of 5")).to_be_visible()
    expect(spotify_tab.get_by_role("heading", name="Recommended for you")).to_be_visible()
    expect(spotify_tab.get_by_test_id("stDataFrame").last).to_be_visible()
    assert "code=" not in spotify_tab.url and "state=" not in spotify_tab.url
    snap(spotify_tab, "my_spotify-logged-in")

    spotify_tab.get_by_role("button", name=re.compile("Disconnect")).click()
    expect(spotify_tab.get_by_role("link", name=re.compile("Log in with Spotify"))).to_be_visible()


def test_home_explorer_and_training_pages(page, app_url):
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Playlist continuation")).to_be_visible()
    expect(page.get_by_text("fixture / ", exact=False).first).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("21")
    expect(page.get_by_test_id("stMain").get_by_role("link", name="Explorer")).to_be_visible()
    snap(page, "home")

    page.goto(f"{app_url}/explorer")
    expect(page.get_by_role("heading", name="Nearest neighbours")).to_be_visible()
    expect(page.get_by_text("Hyperballad — Björk", exact=True)).to_be_visible()  # the most popular
    search(page, "joga")
    row(page, "Jóga — Björk").get_by_role("button", name="Explore").click()
    expect(page.get_by_text("Jóga — Björk", exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name="Open on Spotify")).to_have_attribute(
        "href", "https://open.spotify.com/track/" + track_id_of("Jóga").split(":")[-1])
    expect(page.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first).to_be_visible()
    snap(page, "explorer")
    if README_SHOTS:  # the map, for the README
        page.get_by_test_id("stVegaLiteChart").first.scroll_into_view_if_needed()
        readme_shot(page, "explorer")

    page.goto(f"{app_url}/training")
    expect(page.get_by_role("heading", name="Final metrics")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").locator("canvas, svg").first).to_be_visible()


# Elements sticking out of the viewport's right edge. Content inside a scrollable box of its own
# (a table's grid) is fine; the page's main area (stMain), which scrolls sideways too, is no such box:
# a chart that needs it is cut off on a phone.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const scrollable = (el) => {
    for (let p = el.parentElement; p && p.dataset.testid !== 'stMain'; p = p.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= 0) continue;  // hidden or off-canvas
    if (box.right > width + 1 && !scrollable(el)) {
      wide.push(`${el.tagName.toLowerCase()}[data-testid=${el.dataset.testid}] ${Math.round(box.width)}px`);
    }
  }
  return {width, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 8)};
}"""


def test_explorer_and_training_fit_a_phone(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        for path, ready in (("explorer", "Map of the catalog"), ("training", "Final metrics")):
            page.goto(f"{app_url}/{path}")
            expect(page.get_by_role("heading", name=ready)).to_be_visible()
            charts = page.get_by_test_id("stVegaLiteChart").locator("canvas, svg")
            expect(charts.last).to_be_visible()
            page.wait_for_timeout(500)  # let Vega size the charts to their containers
            snap(page, f"{path}-390px")
            found = page.evaluate(OVERFLOWING)
            assert found["wide"] == [] and found["scrollWidth"] <= found["width"], (path, found)
        assert page.get_by_test_id("stVegaLiteChart").count() == 4  # every curve panel is drawn
    finally:
        context.close()
