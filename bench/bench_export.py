"""5. The members CSV export, by `flask crm export-members -o FILE` (in-process, the real command)
and by the staff page under gunicorn: rows/s against a raw SELECT of the same columns written with
csv.writer; and the peak Python memory (tracemalloc) of the export at two row counts."""

from __future__ import annotations

import csv
import tracemalloc

from bench import loadgen
from bench.common import Result, log, median, stopwatch
from bench.context import Context
from bench.datasets import make_app

NAME = "export"
TARGET = 0.5
MEMORY_LIMIT_MB = 50.0
RAW_SELECT = (
    "SELECT c.member_number, c.title, c.first_name, c.last_name, c.email, c.address_line1, c.address_line2, c.town, "
    "c.postcode, c.country, p.name, m.status, m.joined_at, m.paid_through, m.auto_renew, c.email_consent "
    "FROM contact c LEFT JOIN membership m ON m.contact_id = c.id LEFT JOIN membership_plan p ON p.id = m.plan_id"
)


def run(ctx: Context) -> list[Result]:
    out: list[Result] = []
    for backend in ctx.backends():
        out.extend(run_backend(ctx, backend))
    return out


def _cli(app, path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    with stopwatch() as took:
        result = app.test_cli_runner().invoke(args=["crm", "export-members", "-o", str(path)])
    if result.exit_code != 0:
        raise RuntimeError(f"export-members failed: {result.output[-300:]} {result.exception!r}")
    with path.open(encoding="utf-8") as f:
        rows = sum(1 for _ in csv.reader(f)) - 1
    return took(), rows


def _raw(path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    from crm.extensions import db

    with stopwatch() as took:
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(RAW_SELECT)
            rows = 0
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                while batch := cur.fetchmany(1000):
                    writer.writerows(batch)
                    rows += len(batch)
        finally:
            raw.close()
    return took(), rows


def peak_export_mb() -> float:
    """Peak Python memory above the start while the whole export is generated and written away."""
    from crm.staff.exports import member_csv_lines
    from crm.staff.search import MemberFilters

    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    for _line in member_csv_lines(MemberFilters()):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - start) / 1024 / 1024


def run_backend(ctx: Context, backend: str) -> list[Result]:
    from crm.extensions import db

    opts = ctx.options
    url = ctx.data.seeded(backend, opts.big)
    out_path = ctx.data.workdir / "export.csv"
    app = make_app(url)
    times: dict[str, list[float]] = {"raw": [], "cli": [], "page": []}
    page_rows = 0
    # Raw, CLI and page in turn, round after round: the machine's noise hits all three alike.
    with ctx.app_server(url) as server, app.app_context():
        request = loadgen.request_bytes("GET", "/staff/members/export.csv", server.port,
                                        headers={"Cookie": ctx.cookie("staff", url, server.port)})  # fmt: skip
        for _ in range(opts.rounds if opts.quick else 3):
            raw_s, raw_rows = _raw(out_path)
            cli_s, cli_rows = _cli(app, out_path)
            db.session.remove()
            with stopwatch() as took:
                status, _h, body = loadgen.fetch(server.port, request)
            if status != 200:
                raise RuntimeError(f"export page answered {status}")
            page_rows = body.count(b"\n") - 1
            times["raw"].append(raw_s)
            times["cli"].append(cli_s)
            times["page"].append(took())
        log(f"raw {[round(t, 2) for t in times['raw']]}s ({raw_rows:,} rows), cli {[round(t, 2) for t in times['cli']]}s "
            f"({cli_rows:,} rows), page {[round(t, 2) for t in times['page']]}s ({page_rows:,} rows)")  # fmt: skip
        memory = {opts.big: peak_export_mb()}
        db.session.remove()
        db.engine.dispose()
    small_url = ctx.data.seeded(backend, opts.mid)
    small_app = make_app(small_url)
    with small_app.app_context():
        memory[opts.mid] = peak_export_mb()
        db.session.remove()
        db.engine.dispose()
    log(f"peak export memory (tracemalloc): {', '.join(f'{k:,} rows {v:.1f} MB' for k, v in memory.items())}")
    out_path.unlink(missing_ok=True)
    raw_rps = raw_rows / median(times["raw"])
    cli_rps = cli_rows / median(times["cli"])
    page_rps = page_rows / median(times["page"])
    worst = max(memory.values())
    memory_ok = worst < MEMORY_LIMIT_MB
    mem_figures = {f"peak MB at {k:,} rows": v for k, v in sorted(memory.items())}
    return [
        Result(
            NAME,
            backend,
            "CLI export rows/s ÷ raw SELECT+csv rows/s",
            f"≥ {TARGET}; memory < {MEMORY_LIMIT_MB:g} MB",
            cli_rps / raw_rps,
            cli_rps / raw_rps >= TARGET and memory_ok,
            figures={"cli rows/s": cli_rps, "raw rows/s": raw_rps, **mem_figures},
        ),  # fmt: skip
        Result(
            NAME + " page",
            backend,
            "page export rows/s ÷ raw SELECT+csv rows/s",
            f"≥ {TARGET}",
            page_rps / raw_rps,
            page_rps / raw_rps >= TARGET,
            figures={"page rows/s": page_rps, "raw rows/s": raw_rps, "rows": page_rows},
        ),  # fmt: skip
    ]
