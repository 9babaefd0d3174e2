"""7. `flask crm daily` (in-process, through the real command) on a fresh copy of a seeded database
at the large size, divided by the same at the small size (each run on its own copy: the first
daily run over seeded data does the most work)."""

from __future__ import annotations

from bench.common import Result, log, median, stopwatch
from bench.context import Context
from bench.datasets import make_app

NAME = "daily"


def run(ctx: Context) -> list[Result]:
    return [run_backend(ctx, backend) for backend in ctx.backends()]


def _daily(url: str) -> tuple[float, str]:
    from crm.extensions import db

    app = make_app(url)
    with app.app_context():
        with stopwatch() as took:
            result = app.test_cli_runner().invoke(args=["crm", "daily"])
        if result.exit_code != 0:
            raise RuntimeError(f"crm daily failed: {result.output[-300:]} {result.exception!r}")
        db.session.remove()
        db.engine.dispose()
    return took(), result.output.strip().splitlines()[-1] if result.output.strip() else ""


def run_backend(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    sizes = (opts.mid, opts.big)
    times: dict[int, list[float]] = {size: [] for size in sizes}
    summary = ""
    rounds = 2 if opts.quick else 3
    for size in sizes:
        source = ctx.data.seeded(backend, size)
        for _ in range(rounds):
            copy = ctx.data.copy(backend, source, f"daily{size}")
            seconds, summary = _daily(copy)
            times[size].append(seconds)
            ctx.data.drop(copy)
        log(f"daily at {size:,}: {[round(t, 2) for t in times[size]]}s; {summary[:200]}")
    big, mid = median(times[opts.big]), median(times[opts.mid])
    ratio = big / mid
    target = 1.2 * opts.big / opts.mid
    return Result(
        NAME, backend, f"time at {opts.big:,} ÷ time at {opts.mid:,}", f"≤ {target:g}", ratio, ratio <= target,
        figures={f"seconds at {opts.big:,}": big, f"seconds at {opts.mid:,}": mid},
    )
