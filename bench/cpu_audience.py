"""CPU per request of the audience count preview, in-process: `python -m bench.cpu_audience`.

Not a benchmark row: a tool for working on row 10a, as bench.cpu_news is for row 1. It calls the
WSGI app directly (no server, no sockets) and times `time.process_time` over batches, medians of
the batches, for: the signed-in member's `/news` (the row's baseline), the staff count with a
filter that matches nothing (`FLOOR_PATH`: what the staff JSON request costs without the count),
the row's own count (`COUNT_PATH`), and the count's query alone (crm.audiences.filters.count). The
database is a SQLite file seeded by devtools.seed (`--db PATH` keeps it for the next run).
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path
from typing import Any

from bench.cpu_news import _INSTANCE, ServerCPU, caller, cpu_per_request, member_cookie, seeded_database
from bench.wrk import BROWSER_HEADERS

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _form(client: Any, path: str, fields: dict[str, str]) -> int:
    token = _TOKEN.search(client.get(path).get_data(as_text=True))
    if not token:
        raise RuntimeError(f"no form at {path}")
    return int(client.post(path, data={"csrf_token": token.group(1), **fields}).status_code)


def staff_cookie(app: Any) -> str:
    """Sign the demo admin in through the real forms (password, then the TOTP code)."""
    import pyotp

    from bench.signin import STAFF_EMAIL
    from crm.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": BROWSER_HEADERS["User-Agent"]})
    _form(client, "/login", {"email": STAFF_EMAIL, "password": DEMO_PASSWORD, "next": ""})
    if _form(client, "/login/verify", {"code": pyotp.TOTP(DEMO_TOTP_SECRET).now()}) not in (302, 303):
        raise RuntimeError("second factor refused")
    names = (app.config["SESSION_COOKIE_NAME"], "lang", "crm_remember")
    found = {name: client.get_cookie(name) for name in names}
    return "; ".join(f"{name}={cookie.value}" for name, cookie in found.items() if cookie)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cpu_audience", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", type=Path, help="SQLite file to seed (kept) or reuse")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50, help="requests per batch")
    parser.add_argument("--batches", type=int, default=9)
    args = parser.parse_args()

    url = seeded_database(args.db or Path(_INSTANCE) / "audience.db", args.contacts)
    from bench.bench_audience import COUNT_PATH, FLOOR_PATH
    from bench.datasets import make_app
    from crm.audiences import filters

    app = make_app(url)
    staff = {**BROWSER_HEADERS, "Cookie": staff_cookie(app)}
    count = caller(app, COUNT_PATH, staff)
    if b'"count"' not in count():
        raise RuntimeError("the count did not answer with a count")
    cleaned = filters.clean(
        {"status": ["none", "lapsed"], "postcode_areas": ["N", "E"], "consent": ["email:news"]}
    )

    def query() -> bytes:
        with app.app_context():
            return str(filters.count(cleaned)).encode()

    calls = {
        "signed-in /news": caller(app, "/news", {**BROWSER_HEADERS, "Cookie": member_cookie(app)}),
        "floor (count of nothing)": caller(app, FLOOR_PATH, staff),
        "count": count,
        "count's query alone": query,
    }
    figures = cpu_per_request(calls, args.requests, args.batches, ServerCPU(None))
    news = statistics.median(figures["signed-in /news"])
    print(f"matched: {count().decode().strip()}")
    for name in calls:
        median = statistics.median(figures[name])
        print(f"{name:26} {median * 1e6:8.0f} µs CPU per request  ({median / news:.2f} × /news)")


if __name__ == "__main__":
    main()
