"""Real headless Chromium (Debian's, driven by Playwright) for the browser tests.

`browser_page` is a page in a fresh desktop-sized context; `module_chromium` is one
Chromium for a whole test module (each test opens its own contexts); `shot` saves a
full-page screenshot under test-artifacts/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.needs import missing

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Without the background-networking flags Chromium keeps dialling Google's hosts,
# which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def module_chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        missing("needs the playwright package (the dev extra)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls stay sync. The
    # switch is scoped, so later tests' subprocesses (the deploy checks) never inherit it.
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing(
            "needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium; "
            "scripts/test installs it when run as root)"
        )
    try:
        from playwright import sync_api
    except ImportError:
        missing("needs the playwright package (the dev extra)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM
    # calls are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1360, "height": 900}, locale="en-US", accept_downloads=True
        )
        context.set_default_timeout(20_000)
        try:
            yield context.new_page()
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
LOCALES = {"en": "en-US", "zh": "zh-CN"}


class Browser:
    """Opens pages as a signed-in person (or nobody), remembering console errors per page."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser, self.base = browser, base
        self.errors: list[str] = []

    def open(self, user: Any, size: str, lang: str, path: str) -> Any:
        context = self.browser.new_context(
            viewport=SIZES[size], locale=LOCALES[lang], accept_downloads=True
        )
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": self.base}])
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.goto(self.base + path)
        return page


@pytest.fixture
def chromium(browser_page: Any, live_server: Any) -> Browser:
    return Browser(browser_page.context.browser, live_server.url)
