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
    summaries: dict[int, str] = {}
    rounds = 2 if opts.quick else 5
    sources = {size: ctx.data.seeded(backend, size) for size in sizes}
    # The sizes take turns (small, large, small, ...), so a change in the machine's load during the
    # run weighs on both sides of the ratio alike; medians of 5 runs each. (With all small runs
    # first, then all large ones, 3 each, two full runs of the same code gave PostgreSQL 9.1 and
    # 14.5: 10,000 in 1.08 s then 0.71 s, 100,000 in 10.2 s both times.)
    for _ in range(rounds):
        for size in sizes:
            copy = ctx.data.copy(backend, sources[size], f"daily{size}")
            seconds, summaries[size] = _daily(copy)
            times[size].append(seconds)
            ctx.data.drop(copy)
    for size in sizes:
        log(f"daily at {size:,}: {[round(t, 2) for t in times[size]]}s; {summaries[size][:200]}")
    big, mid = median(times[opts.big]), median(times[opts.mid])
    ratio = big / mid
    target = 1.2 * opts.big / opts.mid
    return Result(
        NAME,
        backend,
        f"time at {opts.big:,} ÷ time at {opts.mid:,}",
        f"≤ {target:g}",
        ratio,
        ratio <= target,
        figures={f"seconds at {opts.big:,}": big, f"seconds at {opts.mid:,}": mid},
    )
