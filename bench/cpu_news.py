"""CPU per request of the signed-in `/news`, in-process: `python -m bench.cpu_news`.

Not a benchmark row: a tool for working on row 1. It calls the WSGI app directly (no server, no
sockets), so what it measures is the app's own work per request, which is what a change to the
app can move: `time.process_time` over batches of requests, medians of the batches, for the
signed-in member's `/news`, the anonymous `/news` and the bare Flask hello (bench/hello.py).
`--profile` prints a cProfile of the signed-in requests instead. The database is a SQLite file
seeded by devtools.seed (`--db PATH` keeps it for the next run), or with `--pg URL` a PostgreSQL
database `crm_cpu_news` made (and kept) on that server: then the CPU of the server's processes
for this database (from /proc, so the server must be on this machine) is counted with the app's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_INSTANCE = tempfile.mkdtemp(prefix="crm-cpu-instance-")
os.environ.setdefault("CRM_INSTANCE_PATH", _INSTANCE)
os.environ["CRM_ENV"] = "development"
for _name in ("REDIS_URL", "MAIL_SERVER", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
    os.environ.pop(_name, None)

from werkzeug.test import EnvironBuilder  # noqa: E402

from bench.signin import MEMBER_EMAIL  # noqa: E402
from bench.wrk import BROWSER_HEADERS  # noqa: E402

_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


PG_NAME = "crm_cpu_news"


def seeded_database(path: Path, contacts: int, pg: str | None = None) -> str:
    if pg:
        url = _postgres_database(pg)
        if url is None:
            return _seed(_postgres_database(pg, create=True) or "", contacts)
        return url
    url = f"sqlite:///{path}"
    return url if path.exists() else _seed(url, contacts)


def _postgres_database(server: str, *, create: bool = False) -> str | None:
    from sqlalchemy import create_engine, make_url, text

    base = make_url(server.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_NAME})
        if not exists and create:
            conn.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
    admin.dispose()
    return base.set(database=PG_NAME).render_as_string(hide_password=False) if exists or create else None


def _seed(url: str, contacts: int) -> str:
    from sqlalchemy import text

    from bench.datasets import BUILD, ensure_search_indexes, make_app
    from crm.extensions import db
    from devtools.seed import seed

    app = make_app(url, **BUILD)
    with app.app_context():
        db.create_all()
        seed(contacts)
        ensure_search_indexes()
        if url.startswith("postgresql"):
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return url


def member_cookie(app: Any) -> str:
    """Sign in through the real form, visit /news once, and return the Cookie header a browser
    would send from then on."""
    from crm.demo import DEMO_PASSWORD

    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": BROWSER_HEADERS["User-Agent"]})
    page = client.get("/login").get_data(as_text=True)
    token = _TOKEN.search(page)
    if not token:
        raise RuntimeError("no sign-in form")
    answer = client.post("/login", data={"csrf_token": token.group(1), "email": MEMBER_EMAIL,
                                         "password": DEMO_PASSWORD, "next": ""})  # fmt: skip
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"sign-in refused: {answer.status_code}")
    client.get("/news", headers={"Accept": BROWSER_HEADERS["Accept"]})
    names = (app.config["SESSION_COOKIE_NAME"], "lang", "crm_remember")
    found = {name: client.get_cookie(name) for name in names}
    return "; ".join(f"{name}={cookie.value}" for name, cookie in found.items() if cookie)


def caller(app: Any, path: str, headers: dict[str, str]) -> Callable[[], bytes]:
    """One request to `path`, as a WSGI server makes it; returns the Set-Cookie seen, if any."""
    # The address a server fills in: Flask-Login ties the session to it and the User-Agent.
    environ = EnvironBuilder(
        path=path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ).get_environ()
    state: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        state["status"] = status
        state["cookie"] = any(name.lower() == "set-cookie" for name, _ in response_headers)

    def call() -> bytes:
        iterable = app(dict(environ), start_response)
        try:
            body = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close:
                close()
        if not state["status"].startswith("200"):
            raise RuntimeError(f"{path}: {state['status']}")
        return body

    call.state = state  # type: ignore[attr-defined]
    return call


class ServerCPU:
    """CPU seconds used so far by the PostgreSQL server processes serving the app's database
    (not this counter's own connection); 0 for SQLite."""

    def __init__(self, url: str | None) -> None:
        from sqlalchemy import create_engine

        self.conn = create_engine(url).connect() if url else None
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        if self.conn is None:
            return 0.0
        from sqlalchemy import text

        pids = self.conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
            {"n": PG_NAME},
        ).all()
        self.conn.rollback()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self.tick


def cpu_per_request(
    calls: dict[str, Callable[[], bytes]], requests: int, batches: int, server: ServerCPU
) -> dict[str, list[float]]:
    """CPU seconds per request of each call, one batch of `requests` calls each in turn (A B C A B
    C ...), so that the machine's slow spells weigh on all of them alike."""
    for call in calls.values():
        for _ in range(50):
            call()
    figures: dict[str, list[float]] = {name: [] for name in calls}
    figures.update({f"{name}, database server": [] for name in calls})
    for _ in range(batches):
        for name, call in calls.items():
            start, server_start = time.process_time(), server()
            for _ in range(requests):
                call()
            used, server_used = time.process_time() - start, server() - server_start
            figures[name].append((used + server_used) / requests)
            figures[f"{name}, database server"].append(server_used / requests)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_news", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file to seed (kept) or reuse")
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200, help="requests per batch")
    parser.add_argument("--batches", type=int, default=9)
    parser.add_argument("--pg", help="a PostgreSQL server URL (the database is made there) instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="cProfile 1,000 signed-in requests")
    parser.add_argument("--lines", type=int, default=60, help="lines of the profile shown")
    args = parser.parse_args()

    path = args.db or Path(_INSTANCE) / "news.db"
    url = seeded_database(path, args.contacts, args.pg)
    from bench.datasets import make_app
    from bench.hello import app as hello

    app = make_app(url)
    headers = {**BROWSER_HEADERS, "Cookie": member_cookie(app)}
    signed_in = caller(app, "/news", headers)
    if b"Sign out" not in signed_in() and b"sign out" not in signed_in().lower():
        raise RuntimeError("/news with the member's cookie is not signed in")
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.process_time)  # CPU, not the wait for the database
        profile.enable()
        for _ in range(1000):
            signed_in()
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.lines)
        return
    calls = {
        "signed-in /news": signed_in,
        "anonymous /news": caller(app, "/news", dict(BROWSER_HEADERS)),
        "hello": caller(hello, "/", dict(BROWSER_HEADERS)),
    }
    figures = cpu_per_request(calls, args.requests, args.batches, ServerCPU(url if args.pg else None))
    for name, call in calls.items():
        cookie = " (answers set a cookie)" if call.state.get("cookie") else ""  # type: ignore[attr-defined]
        spread = f"{min(figures[name]) * 1e6:.0f}-{max(figures[name]) * 1e6:.0f}"
        median = statistics.median(figures[name]) * 1e6
        print(f"{name:18} {median:8.0f} µs CPU per request (batches {spread}){cookie}")
        if args.pg:
            server = statistics.median(figures[f"{name}, database server"]) * 1e6
            print(f"{'':18} {server:8.0f} µs of it the database server's")
    ratios = [s / h for s, h in zip(figures["signed-in /news"], figures["hello"], strict=True)]
    print(f"signed-in /news ÷ hello, CPU per request: median {statistics.median(ratios):.1f}")


if __name__ == "__main__":
    main()
