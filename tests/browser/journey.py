"""A person's trip through the site: one browser context, a page, checks and screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, Response, expect

from tests.browser.checks import (
    ARTIFACTS,
    Watch,
    check_a11y,
    check_controls_reachable,
    check_no_overflow,
    slug,
)
from tests.browser.live import LiveApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Nothing leaves this machine: every host name fails to resolve except loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
#: Chromium draws a date field in its own language (LANGUAGE, with Debian's chromium-l10n for the
#: translations), whatever the page's or the context's locale: en-GB puts the day first, as a UK
#: reader's browser does (an es-ES context in the same browser shows the same dd/mm/yyyy order).
CHROMIUM_LANGUAGE = "en_GB"
CHROMIUM_LOCALE_FILE = Path("/usr/lib/chromium/locales/en-GB.pak")
TIMEOUT_MS = 15_000
#: Full-page screenshots of passing steps cost a second or more each on these machines: taken
#: only with CRM_SCREENSHOTS=1 (or CRM_UPDATE_SCREENSHOTS=1, which copies some to the README); a
#: failing journey's last page is always kept (tests/browser/conftest.py).
SCREENSHOTS = "1" in (os.environ.get("CRM_SCREENSHOTS"), os.environ.get("CRM_UPDATE_SCREENSHOTS"))
#: (viewport, page state) already audited with axe in this process.
AUDITED: set[tuple[str, str]] = set()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own."""
    env = {**os.environ, "LANGUAGE": CHROMIUM_LANGUAGE, "LANG": f"{CHROMIUM_LANGUAGE}.UTF-8"}
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env)


@dataclass(repr=False)
class Journey:
    browser: Browser
    live: LiveApp
    viewport: str
    size: dict[str, int]
    artifacts: Path
    context: BrowserContext
    page: Page
    watch: Watch = field(default_factory=Watch)
    shots: int = 0

    @classmethod
    def open(
        cls,
        browser: Browser,
        live: LiveApp,
        viewport: str,
        size: dict[str, int],
        artifacts: Path,
        locale: str = "en-GB",
    ) -> Journey:
        watch = Watch()
        context = new_context(browser, live, size, watch, locale)
        return cls(browser, live, viewport, size, artifacts, context, context.new_page(), watch)

    @property
    def phone(self) -> bool:
        return self.viewport == "phone"

    def goto(self, path: str, status: int = 200) -> Response:
        response = self.page.goto(self.live.at(path) if path.startswith("/") else path)
        assert response is not None
        assert response.status == status, f"GET {path}: {response.status}, expected {status}"
        return response

    def check(self, name: str, known: dict[str, str] | None = None) -> None:
        """Everything a page must pass, then a screenshot. `known` lists reported issues in code
        this suite does not own ("overflow" or an axe rule id -> the issue): they warn, not fail."""
        page = self.page
        known = known or {}
        page.wait_for_load_state("load")
        self.watch.assert_clean()
        check_no_overflow(page, name, known.get("overflow"))
        if self.phone:
            check_controls_reachable(page, name)
        # One audit per page and state: the same page met again in a later journey is not re-run.
        state = page.evaluate(
            "() => [location.pathname, document.title, document.querySelectorAll('.error-summary, .notice').length,"
            " document.querySelector('main') ? document.querySelector('main').innerText.length : 0].join('|')"
        )
        if (self.viewport, state) not in AUDITED:
            check_a11y(page, name, known)
            AUDITED.add((self.viewport, state))
        self.watch.assert_clean()
        self.screenshot(name)

    def screenshot(self, name: str, *, failure: bool = False) -> None:
        """tests/artifacts/<test>/NN-name.png: always for a failure, else with CRM_SCREENSHOTS=1."""
        if not (SCREENSHOTS or failure):
            return
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        self.page.screenshot(path=str(self.artifacts / f"{self.shots:02d}-{slug(name)}.png"), full_page=True)

    def other_browser(self, name: str, locale: str = "en-GB") -> Journey:
        """A second person (or device), with cookies of its own, checked the same way; `locale`
        is their browser's language."""
        watch = Watch()
        context = new_context(self.browser, self.live, self.size, watch, locale)
        return Journey(
            self.browser,
            self.live,
            self.viewport,
            self.size,
            self.artifacts / slug(name),
            context,
            context.new_page(),
            watch,
        )

    def close(self) -> None:
        self.context.close()

    # Small helpers the journeys share.

    def heading(self) -> str:
        return self.page.locator("h1").first.inner_text().strip()

    def text(self) -> str:
        return self.page.locator("main").inner_text()

    def expect_success(self, contains: str = "") -> None:
        """The green "done" message is shown (else the failure quotes what the page says)."""
        try:
            expect(self.page.locator(".notice-success").first).to_contain_text(contains)
        except AssertionError as error:
            raise AssertionError(
                f"no success message at {self.page.url}; the page says:\n{self.text()[:1500]}"
            ) from error

    def follow(self, target: Locator) -> None:
        """Click a link or a submit button and wait for the page it leads to."""
        with self.page.expect_navigation(wait_until="load"):
            target.click()

    def press(self, key: str) -> None:
        """Press a key that leads to another page (Enter on a link or a submit button)."""
        with self.page.expect_navigation(wait_until="load"):
            self.page.keyboard.press(key)


def new_context(
    browser: Browser, live: LiveApp, size: dict[str, int], watch: Watch, locale: str = "en-GB"
) -> BrowserContext:
    """`locale` is also the browser's Accept-Language."""
    context = browser.new_context(
        viewport=size,
        base_url=live.url,
        locale=locale,
        timezone_id="Europe/London",
        reduced_motion="reduce",
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    watch.attach(context)
    return context


@contextmanager
def watched_journey(
    browser: Browser,
    live: LiveApp,
    request: Any,
    viewport: str,
    size: dict[str, int],
    locale: str = "en-GB",
) -> Iterator[Journey]:
    """A test's journey (the fixtures' one way to open it): a fresh context in its own artifacts
    folder, a screenshot if the test failed, then closed and checked for problems it watched."""
    artifacts = ARTIFACTS / request.node.name.replace("[", "-").rstrip("]")
    shutil.rmtree(artifacts, ignore_errors=True)
    trip = Journey.open(browser, live, viewport, size, artifacts, locale)
    try:
        yield trip
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            trip.screenshot("failure", failure=True)
        trip.close()
    trip.watch.assert_clean()
