"""Browser journeys: the system Chromium (Playwright, never a downloaded browser) against the real
app and the Stripe sandbox, each served on a free loopback port once per test session.

Without /usr/bin/chromium or axe-core (run tests/browser/setup.sh) these tests are skipped, or
fail when CRM_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.checks import AXE_PATH
from tests.browser.journey import CHROMIUM, CHROMIUM_LOCALE_FILE, Journey, launch_chromium, watched_journey
from tests.browser.live import LiveApp, postgres_database, start_live_app

BROWSER_DIR = Path(__file__).resolve().parent
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


def _viewport_for_this_pass(item: pytest.Item) -> str | None:
    """With both passes running (CRM_TEST_SPLIT, set by tests/run.sh), a journey that runs at both
    viewports runs one of them on SQLite and the other on PostgreSQL, alternating by journey, so
    each journey still meets both viewports and both databases, and each pass both viewports.
    None: keep every viewport (one pass alone, or CRM_BROWSER_EVERY_VIEWPORT=1)."""
    split = os.environ.get("CRM_TEST_SPLIT", "")
    if not split or os.environ.get("CRM_BROWSER_EVERY_VIEWPORT") == "1":
        return None
    order = list(VIEWPORTS)
    turn = zlib.crc32(item.originalname.encode()) + (split == "postgresql")  # type: ignore[attr-defined]
    return order[turn % len(order)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    per_journey: dict[str, set[str]] = {}
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            viewport = getattr(item, "callspec", None) and item.callspec.params.get("viewport")  # type: ignore[attr-defined]
            if viewport:
                per_journey.setdefault(item.nodeid.split("[")[0], set()).add(viewport)
    other_pass = []
    for item in items:
        at_both = per_journey.get(item.nodeid.split("[")[0]) == set(VIEWPORTS)
        keep = _viewport_for_this_pass(item) if at_both else None
        if keep is not None and item.callspec.params.get("viewport") != keep:  # type: ignore[attr-defined]
            other_pass.append(item)
    if other_pass:
        config.hook.pytest_deselected(items=other_pass)
        items[:] = [item for item in items if item not in other_pass]


def _missing() -> list[str]:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    elif not CHROMIUM_LOCALE_FILE.is_file():
        missing.append(f"{CHROMIUM_LOCALE_FILE} (Debian package chromium-l10n: UK date fields)")
    if not AXE_PATH.is_file():
        missing.append(f"{AXE_PATH.relative_to(BROWSER_DIR.parent.parent)} (run tests/browser/setup.sh)")
    return missing


@pytest.fixture(scope="session")
def browser_ready() -> None:
    missing = _missing()
    if missing:
        reason = "browser tests need " + " and ".join(missing)
        if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (CRM_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser(browser_ready: None) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app with demo data and the sandbox, on this run's database (SQLite file or PostgreSQL)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        with postgres_database(base) as url:
            server = start_live_app(url)
            try:
                yield server
            finally:
                server.stop()
        return
    path = tmp_path_factory.mktemp("browser-db") / "browser.db"
    server = start_live_app(f"sqlite:///{path}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def needs_sandbox(live: LiveApp) -> None:
    if live.sandbox_url is None:
        pytest.fail("the Stripe sandbox (devtools/stripe_sandbox/server.py) is missing", pytrace=False)


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def journey(browser, live: LiveApp, viewport: str, request: pytest.FixtureRequest) -> Iterator[Journey]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) at the viewport's size, watched for problems."""
    with watched_journey(browser, live, request, viewport, VIEWPORTS[viewport]) as trip:
        yield trip


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
