"""3. The /staff dashboard at the large data set: p95 latency against a signed-in member's /news
on the same server, one request at a time, in alternating rounds."""

from __future__ import annotations

from bench import loadgen
from bench.ceiling import generator_overhead
from bench.common import Result
from bench.context import Context, alternate, latency_run, median_p95_ms

NAME = "dashboard"
TARGET = 3.0


def run(ctx: Context) -> list[Result]:
    return [run_backend(ctx, backend) for backend in ctx.backends()]


def run_backend(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    url = ctx.data.seeded(backend, opts.big)
    count = 10 if opts.quick else 20
    with ctx.app_server(url) as app:
        staff = loadgen.request_bytes(
            "GET", "/staff", app.port, headers={"Cookie": ctx.cookie("staff", url, app.port)}
        )
        news = loadgen.request_bytes(
            "GET", "/news", app.port, headers={"Cookie": ctx.cookie("member", url, app.port)}
        )
        status, _h, _b = loadgen.fetch(app.port, staff)
        if status != 200:
            return Result(
                NAME,
                backend,
                "/staff p95 ÷ /news p95",
                f"≤ {TARGET:g}",
                note=f"n/a: /staff answered {status}",
            )
        loads = alternate(opts.rounds, {
            "news": lambda: latency_run(app.port, [news], count),
            "dashboard": lambda: latency_run(app.port, [staff], count),
        })  # fmt: skip
    news_p95, staff_p95 = median_p95_ms(loads["news"]), median_p95_ms(loads["dashboard"])
    ratio = staff_p95 / news_p95 if news_p95 else 0.0
    errors = sum(x.errors for group in loads.values() for x in group)
    return Result(
        NAME,
        backend,
        "/staff p95 ÷ /news p95",
        f"≤ {TARGET:g}",
        ratio,
        ratio <= TARGET and errors == 0,
        note=f"{errors} errors" if errors else "",
        figures={
            "/staff p95 ms": staff_p95,
            "/news p95 ms": news_p95,
            "contacts": opts.big,
            "driver": "loadgen, one at a time",
            **generator_overhead(),
        },
    )
