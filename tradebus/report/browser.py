"""Open a report in a real headless Chromium: check that its charts render, or take a screenshot.

Used by the tests and by ``docs/report_screenshot.py``. It drives the system's Chromium
(``/usr/bin/chromium``, Debian's ``chromium`` package; no browser is downloaded) through playwright
(the ``test`` extra). Every request other than ``file:``, ``data:`` and ``blob:`` is refused and
recorded, so a report that reached for the network is caught; console errors and uncaught page
errors are recorded too. Chromium runs with the background services that would go online switched
off, in a fresh profile (playwright makes a new temporary ``--user-data-dir`` for every launch).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
RENDER_TIMEOUT_MS = 60_000
_ALL_RENDERED = """() => {
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  return divs.length > 0 && divs.every(d => d.querySelector('.main-svg') !== null);
}"""
_COUNTS = """() => ({
  figures: document.querySelectorAll('.plotly-graph-div').length,
  rendered: [...document.querySelectorAll('.plotly-graph-div')].filter(d => d.querySelector('.main-svg')).length,
})"""


_HOVERED = """() => document.querySelector('.plotly-graph-div')
  .querySelectorAll('.hoverlayer .hovertext, .hoverlayer .legend').length"""
_HOVER_TEXT = """() => [...document.querySelector('.plotly-graph-div')
  .querySelectorAll('.hoverlayer .hovertext, .hoverlayer .legend')].map(e => e.textContent).join(' | ')"""


def find_chromium() -> Path | None:
    """The Chromium executable: ``chromium`` on the PATH, else ``/usr/bin/chromium``; None if neither."""
    found = shutil.which("chromium")
    if found:
        return Path(found)
    return CHROMIUM if CHROMIUM.is_file() else None


@dataclass
class PageCheck:
    """What opening a page showed.

    Attributes:
        figures: Plotly figure divs on the page.
        rendered: Of those, how many hold a rendered SVG (``.main-svg``).
        console_errors: Console messages of type ``error`` and uncaught page errors.
        blocked: URLs of refused network requests (anything not local).
        hover_labels: Hover labels shown with the mouse over the middle of the first chart (0: none).
        hover_text: Their text, joined with `` | `` (empty without labels).
    """

    figures: int = 0
    rendered: int = 0
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    hover_labels: int = 0
    hover_text: str = ""


class ReportBrowser:
    """One headless Chromium, opening pages one at a time (create with :func:`report_browser`)."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def _page(self, check: PageCheck, width: int) -> Any:
        page = self._browser.new_page(viewport={"width": width, "height": 900})

        def route(route: Any) -> None:
            url = route.request.url
            if url.startswith(LOCAL_SCHEMES):
                route.continue_()
            else:
                check.blocked.append(url)
                route.abort()

        page.route("**/*", route)
        page.on("console", lambda msg: check.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: check.console_errors.append(str(error)))
        return page

    def check(
        self, path: Path, screenshot: Path | None = None, width: int = 1280, timeout_ms: int = RENDER_TIMEOUT_MS
    ) -> PageCheck:
        """Open ``path``, wait until every figure has drawn, and report what happened.

        Args:
            path: The HTML file.
            screenshot: Where to save a full-page PNG, if anywhere.
            width: Viewport width in pixels.
            timeout_ms: How long to wait for the charts to draw before giving up (recorded as an error).
        """
        check = PageCheck()
        page = self._page(check, width)
        try:
            page.goto(path.resolve().as_uri(), wait_until="load")
            try:
                page.wait_for_function(_ALL_RENDERED, timeout=timeout_ms)
            except Exception as e:  # noqa: BLE001 - a page that never draws is a result, reported below
                check.console_errors.append(f"charts did not render: {e}".splitlines()[0])
            counts = page.evaluate(_COUNTS)
            check.figures, check.rendered = int(counts["figures"]), int(counts["rendered"])
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            if check.rendered:
                check.hover_labels = _hover(page)
                check.hover_text = str(page.evaluate(_HOVER_TEXT)) if check.hover_labels else ""
        finally:
            page.close()
        return check


def _hover(page: Any) -> int:
    # the mouse to the middle of the first chart's plot area; plotly then draws its hover label
    box = page.locator(".plotly-graph-div .nsewdrag").first.bounding_box()
    if box is None:
        return 0
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    try:
        page.wait_for_function(_HOVERED, timeout=10_000)
    except Exception:  # noqa: BLE001 - no label: reported as none
        return 0
    return int(page.evaluate(_HOVERED))


@contextmanager
def report_browser(executable: Path | None = None) -> Iterator[ReportBrowser]:
    """Launch headless Chromium for :class:`ReportBrowser`; closed on exit.

    Raises:
        FileNotFoundError: If no Chromium is installed.
        ImportError: If playwright is not installed.
    """
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - test extra only

    chromium = executable or find_chromium()
    if chromium is None:
        msg = f"no Chromium: install it (apt-get install chromium) or put it at {CHROMIUM}"
        raise FileNotFoundError(msg)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=list(FLAGS))
        try:
            yield ReportBrowser(browser)
        finally:
            browser.close()
