"""`make screenshots` (python -m tests.browser.screenshots): the README's pictures, from the demo data.

Starts the app with the demo data and the Stripe sandbox on free loopback ports (as the browser
tests do) and writes full-page PNGs, 1280 px wide, to docs/screenshots/.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.journey import CHROMIUM, Journey, launch_chromium
from tests.browser.live import start_live_app
from tests.browser.people import sign_in

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
SIZE = {"width": 1280, "height": 900}


def _shoot(trip: Journey, path: str, name: str) -> Path:
    trip.goto(path)
    trip.page.wait_for_load_state("networkidle")
    target = OUT / name
    trip.page.screenshot(path=str(target), full_page=True)
    print(f"  {target.relative_to(ROOT)}  ({path})")
    return target


#: The staff's phone at the door (check-in).
PHONE = {"width": 390, "height": 844}


def _trip(browser, live, artifacts: Path, locale: str = "en-GB", size: dict[str, int] = SIZE) -> Journey:  # type: ignore[no-untyped-def]
    return Journey.open(browser, live, "phone" if size is PHONE else "desktop", size, artifacts, locale)


def _demo_events(database: Path) -> dict[str, int]:
    """The demo events' ids by slug (the AGM's page and the check-in are found by id)."""
    with closing(sqlite3.connect(database)) as conn:
        return dict(conn.execute("SELECT slug, id FROM event"))


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run tests/browser/setup.sh (as root) first", file=sys.stderr)
        return 1
    from crm.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        live = start_live_app(f"sqlite:///{tmp}/screenshots.db")
        artifacts = Path(tmp) / "artifacts"
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                print(f"Writing screenshots from {live.url}:")

                visitor = _trip(browser, live, artifacts)
                _shoot(visitor, "/", "home.png")
                _shoot(visitor, "/join", "join.png")
                visitor.close()

                # A browser whose Accept-Language asks for Spanish gets the site in Spanish.
                spanish = _trip(browser, live, artifacts, locale="es-ES")
                _shoot(spanish, "/", "home-es.png")
                _shoot(spanish, "/join", "join-es.png")
                spanish.close()

                events = _demo_events(Path(tmp) / "screenshots.db")
                member = _trip(browser, live, artifacts)
                sign_in(member, "member@example.org", DEMO_PASSWORD)
                _shoot(member, "/news", "news.png")
                _shoot(member, "/account", "account.png")
                _shoot(member, "/events/benefit-gig", "event.png")
                _shoot(member, f"/agm/{events['annual-general-meeting']}", "agm-vote.png")
                member.close()

                staff = _trip(browser, live, artifacts)
                sign_in(staff, "admin@example.org", DEMO_PASSWORD, totp_secret=DEMO_TOTP_SECRET)
                _shoot(staff, "/staff", "staff-dashboard.png")
                staff.close()

                door = _trip(browser, live, artifacts, size=PHONE)
                sign_in(door, "admin@example.org", DEMO_PASSWORD, totp_secret=DEMO_TOTP_SECRET)
                _shoot(
                    door,
                    f"/staff/events/{events['film-night-the-long-road-home']}/check-in",
                    "event-check-in.png",
                )
                door.close()

                problems = [
                    problem
                    for trip in (visitor, spanish, member, staff, door)
                    for problem in trip.watch.problems
                ]
                browser.close()
        finally:
            live.stop()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
