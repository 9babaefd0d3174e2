"""8. gunicorn worker memory: the resident size (RSS) of each worker after the first and after the
second count of mixed requests (pages members, visitors and staff open, in a fixed cycle), with
worker recycling (max_requests) turned off for this run so that any growth shows."""

from __future__ import annotations

from urllib.parse import quote

from bench import loadgen
from bench.common import Result, log
from bench.context import Context

NAME = "memory"
LIMIT_MB = 150.0
GROWTH_MB = 5.0  #: "no growth": allocator noise allowed, a leak is not


def mix(port: int, member: str, staff: str) -> list[bytes]:
    def get(path: str, cookie: str | None = None) -> bytes:
        return loadgen.request_bytes("GET", path, port, headers={"Cookie": cookie} if cookie else None)

    cycle = [get("/"), get("/news"), get("/news", member), get("/news?page=3", member), get("/news/bench-3", member),
             get("/news/bench-4"), get("/join"), get("/login"), get("/healthz"), get("/account", member),
             get("/news/feed.xml"), get("/static/css/site.css")]  # fmt: skip
    cycle = cycle * 8  # members and visitors far outnumber staff
    cycle += [get(f"/staff/members?q={quote(q)}", staff) for q in ("orres", "ls1", "M00001")]
    cycle += [get("/staff/members?page=7", staff), get("/staff", staff)]
    return cycle


def run(ctx: Context) -> list[Result]:
    return [run_backend(ctx, backend) for backend in ctx.backends()]


def run_backend(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    first, second = opts.memory_requests
    url = ctx.data.seeded(backend, opts.big)
    with ctx.app_server(url, args=("--max-requests", "0")) as app:
        requests = mix(app.port, ctx.cookie("member", url, app.port), ctx.cookie("staff", url, app.port))
        pids = app.worker_pids()
        load = loadgen.run(app.port, requests, connections=opts.connections, max_requests=first, seconds=1800,
                           expect=(200, 304))  # fmt: skip
        at_first = app.worker_rss_mb()
        more = loadgen.run(app.port, requests, connections=opts.connections, max_requests=second - first,
                           seconds=3600, expect=(200, 304))  # fmt: skip
        at_second = app.worker_rss_mb()
        same_workers = app.worker_pids() == pids
    sent = load.requests + more.requests
    errors = load.errors + more.errors
    log(f"{sent:,} requests ({load.rps:.0f} and {more.rps:.0f} req/s), statuses {dict(load.statuses + more.statuses)}; "
        f"RSS MB after {first:,}: {at_first}, after {second:,}: {at_second}")  # fmt: skip
    peak = max([*at_first.values(), *at_second.values()], default=0.0)
    growth = max((at_second.get(pid, 0.0) - rss for pid, rss in at_first.items()), default=0.0)
    ok = peak < LIMIT_MB and growth <= GROWTH_MB and same_workers and errors == 0 and sent == second
    note = "" if same_workers else "a worker was replaced during the run"
    if errors:
        note += f" {errors} errors"
    return Result(
        NAME,
        backend,
        f"worker RSS MB after {second:,} (growth from {first:,})",
        f"< {LIMIT_MB:g} MB; growth ≤ {GROWTH_MB:g} MB",
        round(peak, 1),
        ok,
        note=note.strip(),
        figures={
            f"max RSS MB at {first:,}": max(at_first.values(), default=0.0),
            f"max RSS MB at {second:,}": max(at_second.values(), default=0.0),
            "growth MB": growth,
            "req/s": sent / (load.seconds + more.seconds),
        },  # fmt: skip
    )
