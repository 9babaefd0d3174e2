"""1. A signed-in member's /news (the 10 latest of 1,000 posts): requests/s under gunicorn against
a bare Flask "hello" served by the same gunicorn settings, in alternating rounds."""

from __future__ import annotations

from bench import loadgen, wrk
from bench.common import Result, log, median
from bench.context import Context, alternate, median_rps
from bench.signin import refreshed_cookie

NAME = "news"
TARGET = 0.35  #: measured with wrk (issue 25); it was 0.30 with the Python generator


def run(ctx: Context) -> list[Result]:
    return [run_backend(ctx, backend) for backend in ctx.backends()]


def run_backend(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    url = ctx.data.seeded(backend, opts.big)
    with ctx.hello_server() as hello, ctx.app_server(url) as app:
        cookie = ctx.cookie("member", url, app.port)
        news = loadgen.request_bytes("GET", "/news", app.port, headers={"Cookie": cookie})
        status, _h, body = loadgen.fetch(app.port, news)
        if status != 200 or b"Sign out" not in body and b"sign out" not in body.lower():
            log(f"warning: /news as the member answered {status}; signed-in marker not found")
        base = loadgen.request_bytes("GET", "/", hello.port)
        if wrk.available():
            jar = {"cookie": cookie}

            def news_round() -> loadgen.Load:
                # The cookie as a browser holds it by now (what the last answer set), not the
                # sign-in one: a stale cookie makes every answer re-sign a new one.
                jar["cookie"] = refreshed_cookie(app.port, jar["cookie"])
                return wrk.run(app.port, "/news", headers={"Cookie": jar["cookie"]},
                               connections=opts.connections, seconds=opts.seconds)  # fmt: skip

            loads = alternate(opts.news_rounds, {
                "hello": lambda: wrk.run(hello.port, "/", connections=opts.connections, seconds=opts.seconds),
                "news": news_round,
            })  # fmt: skip
        else:
            log("warning: wrk is missing (make bench installs it): the Python generator drives this row")
            loads = alternate(opts.news_rounds, {
                "hello": lambda: loadgen.run(hello.port, [base], connections=opts.connections, seconds=opts.seconds),
                "news": lambda: loadgen.run(app.port, [news], connections=opts.connections, seconds=opts.seconds),
            })  # fmt: skip
    hello_rps, news_rps = median_rps(loads["hello"]), median_rps(loads["news"])
    ratio = news_rps / hello_rps if hello_rps else 0.0
    errors = sum(x.errors for x in loads["news"])
    return Result(
        NAME,
        backend,
        "/news req/s ÷ hello req/s",
        f"≥ {TARGET}",
        ratio,
        ratio >= TARGET and errors == 0,
        note=f"{errors} errors" if errors else "",
        figures={
            "news req/s": news_rps,
            "hello req/s": hello_rps,
            "news p50 ms": median([loadgen_p(x, 50) for x in loads["news"]]),
            "contacts": opts.big,
            "driver": "wrk" if wrk.available() else "loadgen",
        },  # fmt: skip
    )


def loadgen_p(load: loadgen.Load, pct: float) -> float:
    return load.percentile(pct) * 1000
