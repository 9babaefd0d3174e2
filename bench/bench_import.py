"""4. `flask crm import-members FILE.csv` (through the real command): rows/s against a raw DB-API
`executemany` of the same rows (contacts, then their memberships) into a copy of the same empty
database; and the time at the large size divided by the time at the small size.

Each import and each raw insert runs in a process of its own, as the command does, and times
itself (from invoking the command to its end, not the interpreter's start). In one long-lived
process, each 100,000-row run left the next one slower (15-16 s for a first import, then 19 s,
then 22 s: the same code, ~20 % slower across the board), which skewed the time ratio.

Each round times the large size once and the small size as a block of back-to-back runs (each
still a process and a database of its own) whose mean is the round's small-size sample, so that
both sides of the time ratio cover a similar stretch of the machine's time. On these shared
machines the speed changes for seconds at a time: a single 10,000-row run (~2 s) often falls
between two slow spells, a 100,000-row run (~20 s) hardly ever does, and a median of single small
runs took the quick spells only (10,000-row times of 1.3-2.4 s within one run; time ratios of 9.7
and 11.7 for the same code an hour apart).
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.common import Result, log, median, stopwatch
from bench.context import Context
from bench.datasets import make_app

NAME = "import"
TARGET = 0.15
#: Rounds (medians of 5); each times the large size once and the small size BLOCK times in a row.
ROUNDS, BLOCK = 5, 8
HEADER = ["Email", "First name", "Last name", "Address line 1", "Town", "Postcode", "Country", "Plan", "Status",
          "Joined", "Paid through", "Email consent", "Gift Aid"]  # fmt: skip


def write_csv(path: Path, rows: int, seed: int = 8) -> None:
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            first, last = (
                rng.choice(["Ana", "Ben", "Femi", "Rosa", "Wen"]),
                rng.choice(["Torres", "Okafor", "Khan"]),
            )
            joined = today - timedelta(days=rng.randint(30, 2000))
            writer.writerow([f"{first}.{last}.{i}@import.example.net".lower(), first, last, f"{i % 300 + 1} Mill Lane",
                             "Leeds", f"LS{rng.randint(1, 9)} {rng.randint(1, 9)}AB", "GB", "standard-yearly", "active",
                             joined.strftime("%d/%m/%Y"), (today + timedelta(days=rng.randint(1, 360))).isoformat(),
                             rng.choice(["yes", "no"]), rng.choice(["yes", "no"])])  # fmt: skip


def run(ctx: Context) -> list[Result]:
    return [run_backend(ctx, backend) for backend in ctx.backends()]


def _import(url: str, path: Path) -> float:
    from crm.extensions import db

    app = make_app(url)
    _register_import_command()
    with app.app_context():
        with stopwatch() as took:
            result = app.test_cli_runner().invoke(args=["crm", "import-members", str(path)])
        seconds = took()
        if result.exit_code != 0 or "errors: 0" not in result.output:
            raise RuntimeError(f"import-members failed: {result.output[-300:]} {result.exception!r}")
        db.session.remove()
        db.engine.dispose()
    return seconds


def _in_child(kind: str, url: str, path: Path, warm: tuple[str, Path]) -> float:
    """Run `_import` or `_raw` in a new Python process, after an untimed run of the same kind on a
    small file into a throwaway database (modules loaded, first statements compiled); returns the
    seconds the timed run measured."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_import", kind, url, str(path), warm[0], str(warm[1])],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run failed: {done.stderr[-800:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _register_import_command() -> None:
    """crm/cli.py's COMMAND_MODULES may not list the import module yet; importing it registers it."""
    from crm.cli import crm_cli

    if "import-members" not in crm_cli.commands:
        import crm.staff.import_commands  # noqa: F401


def _raw(url: str, path: Path) -> float:
    """The floor: read the CSV and executemany the same contacts and memberships, one transaction."""
    from crm.extensions import db

    app = make_app(url)
    with app.app_context():
        plan_id = db.session.execute(
            text("SELECT id FROM membership_plan WHERE slug = 'standard-yearly'")
        ).scalar_one()
        db.session.remove()
        with stopwatch() as took:
            now = datetime.now(UTC)
            with path.open(newline="", encoding="utf-8") as source:
                rows = list(csv.reader(source))[1:]
            raw = db.engine.raw_connection()
            try:
                cur = raw.cursor()
                mark = "?" if db.engine.dialect.name == "sqlite" else "%s"
                cur.executemany(
                    "INSERT INTO contact (email, title, first_name, last_name, address_line1, address_line2, town, "
                    "postcode, country, phone, email_consent, email_consent_source, source, version, created_at, updated_at) "  # noqa: S608
                    f"VALUES ({', '.join([mark] * 16)})",
                    [(r[0], "", r[1], r[2], r[3], "", r[4], r[5], r[6], "", r[11] == "yes", "import" if r[11] == "yes" else "",
                      "import", 1, now, now)
                     for r in rows],
                )  # fmt: skip
                cur.execute("SELECT id, email FROM contact WHERE source = 'import'")
                ids = dict((email, cid) for cid, email in cur.fetchall())
                cur.executemany(
                    "INSERT INTO membership (contact_id, plan_id, status, joined_at, current_period_start, "
                    "paid_through, auto_renew, complimentary, created_at, updated_at) "  # noqa: S608
                    f"VALUES ({', '.join([mark] * 10)})",
                    [(ids[r[0]], plan_id, r[8], _date(r[9]), _date(r[9]), _date(r[10]), False, False, now, now)
                     for r in rows],
                )  # fmt: skip
                raw.commit()
            finally:
                raw.close()
        seconds = took()
        db.engine.dispose()
    return seconds


def _date(value: str) -> datetime:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(value)


def run_backend(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    template = ctx.data.schema(backend, "importbase")
    sizes = (opts.mid, opts.big)
    times: dict[int, dict[str, list[float]]] = {size: {"raw": [], "import": []} for size in sizes}
    paths = {size: ctx.data.workdir / f"import-{size}.csv" for size in sizes}
    for size in sizes:
        write_csv(paths[size], size)
    small = ctx.data.workdir / "import-warm.csv"
    write_csv(small, 200, seed=9)
    # The sizes take turns (small, large, large, small, ...), so a change in the machine's load
    # during the run weighs on both sides of the time ratio alike; medians of the rounds.
    block = max(1, min(BLOCK, opts.big // opts.mid))
    small_runs: list[float] = []
    for round_ in range(ROUNDS):
        for size in sizes if round_ % 2 == 0 else sizes[::-1]:
            for kind in ("raw", "import"):
                runs = block if (size == opts.mid and kind == "import") else 1
                samples = []
                for _ in range(runs):
                    url, warm = (
                        ctx.data.copy(backend, template, f"imp{size}"),
                        ctx.data.copy(backend, template, "impwarm"),
                    )
                    samples.append(_in_child(kind, url, paths[size], (warm, small)))
                    ctx.data.drop(url)
                    ctx.data.drop(warm)
                times[size][kind].append(sum(samples) / len(samples))
                if runs > 1:
                    small_runs += samples
    small.unlink()
    for size in sizes:
        log(f"{size:,} rows: raw {[round(t, 2) for t in times[size]['raw']]}s, "
            f"import {[round(t, 2) for t in times[size]['import']]}s")  # fmt: skip
        paths[size].unlink()
    log(f"{opts.mid:,}-row imports one by one ({block} a round): {[round(t, 2) for t in small_runs]}s")
    ctx.data.drop(template)
    big, mid = opts.big, opts.mid
    import_rps, raw_rps = big / median(times[big]["import"]), big / median(times[big]["raw"])
    ratio = import_rps / raw_rps
    scale = median(times[big]["import"]) / median(times[mid]["import"])
    scale_target = 1.1 * big / mid
    return Result(
        NAME,
        backend,
        f"import rows/s ÷ raw executemany rows/s ({big:,} rows)",
        f"≥ {TARGET}; time ratio ≤ {scale_target:g}",
        ratio,
        ratio >= TARGET and scale <= scale_target,
        figures={
            "import rows/s": import_rps,
            "raw rows/s": raw_rps,
            f"time {big:,}÷{mid:,}": scale,
            f"runs of {mid:,} a round": block,
        },  # fmt: skip
    )


if __name__ == "__main__":  # one timed run, in its own process: python -m bench.bench_import KIND URL FILE
    kind, url, file, warm_url, warm_file = sys.argv[1:6]
    run_kind = {"raw": _raw, "import": _import}[kind]
    run_kind(warm_url, Path(warm_file))
    seconds = run_kind(url, Path(file))
    print(json.dumps({"seconds": seconds}))
