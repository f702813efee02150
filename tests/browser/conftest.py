"""Browser tests: Debian's chromium driven by Playwright; never a downloaded browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Where screenshots for the README go when SCREENSHOTS_DIR is set (e.g. docs/screenshots).
SCREENSHOTS_DIR = os.environ.get("SCREENSHOTS_DIR")


def _chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not _chromium_available():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"chromium not found at {CHROMIUM}; .ci/run installs Debian's package")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM (used by the live
    # server's fixtures in this same thread) then refuses unless told this is intended.
    # Module-scoped, and undone afterwards, so no other test runs with the loop or the flag.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(page):
    def take(name: str) -> None:
        if SCREENSHOTS_DIR:
            Path(SCREENSHOTS_DIR).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SCREENSHOTS_DIR) / f"{name}.png"), full_page=True)

    return take
