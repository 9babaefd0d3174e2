"""`python -m bench` (make bench): run every benchmark, print the table, write results/latest.json.

`--quick` for a small fast run; `--only news,search` to pick; `--backend sqlite` for one database.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Before the app is imported: its generated development key and its instance folder go to a
# temporary directory, no Stripe or mail server is reachable by accident, no Redis.
_INSTANCE = tempfile.mkdtemp(prefix="crm-bench-instance-")
os.environ["CRM_INSTANCE_PATH"] = _INSTANCE
os.environ["CRM_ENV"] = "development"
os.environ["STRIPE_API_BASE"] = "http://127.0.0.1:9"
os.environ["STRIPE_MAX_NETWORK_RETRIES"] = "0"
for _name in ("REDIS_URL", "MAIL_SERVER", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
    os.environ.pop(_name, None)

from bench.common import RESULTS_DIR, Options, Result, log, machine, table  # noqa: E402

#: name -> module, in the order of the issue's table.
BENCHMARKS = {
    "news": "bench.bench_news",
    "search": "bench.bench_search",
    "dashboard": "bench.bench_dashboard",
    "import": "bench.bench_import",
    "export": "bench.bench_export",
    "webhook": "bench.bench_webhook",
    "daily": "bench.bench_daily",
    "memory": "bench.bench_memory",
    "load": "bench.bench_load",  # issue 7: 50 users joining, signing in, reading news, webhooks arriving
    # issue 21: the audience count preview, queuing a campaign, delivering it over SMTP (last: it
    # works on a copy of the seeded data, which it changes)
    "audience": "bench.bench_audience",
}


def parse(argv: list[str]) -> tuple[Options, list[str], Path]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data and short rounds (a minute or two)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), help="only this database")
    parser.add_argument("--contacts", type=int, help="contacts in the large data set (default 100,000)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per comparison")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--audience-parts", default="count,queue,send",
        help="row 10's parts: count (a), queue (b), send (c); e.g. queue,send",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    options = Options.quick_run() if args.quick else Options()
    options.pg_url = args.pg_url
    if args.backend:
        options.backends = (args.backend,)
    if args.contacts:
        options.big = args.contacts
    if args.rounds:
        options.rounds = options.news_rounds = args.rounds
    options.audience_parts = tuple(p.strip() for p in args.audience_parts.split(",") if p.strip())
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return options, names, args.output


def main(argv: list[str] | None = None) -> int:
    options, names, output = parse(sys.argv[1:] if argv is None else argv)
    from bench.context import Context
    from bench.datasets import Databases

    data = Databases(options.pg_url)
    ctx = Context(options, data, log_dir=data.workdir)
    started = time.time()
    results: list[Result] = []
    print(f"crm benchmarks ({'quick' if options.quick else 'full'}): {', '.join(names)}; "
          f"databases: {', '.join(ctx.backends())}", flush=True)  # fmt: skip
    try:
        for name in names:
            print(f"== {name}", flush=True)
            module = importlib.import_module(BENCHMARKS[name])
            try:
                found = module.run(ctx)
            except Exception as error:  # noqa: BLE001  (one broken benchmark must not stop the others)
                traceback.print_exc()
                found = [Result(name, "-", "-", "-", note=f"n/a: {type(error).__name__}: {str(error)[:160]}")]
            for result in found:
                log(f"{result.name} {result.backend}: {result.verdict} "
                    f"{'' if result.ratio is None else f'ratio {result.ratio:.3g} '}{result.note}")  # fmt: skip
            results.extend(found)
    finally:
        data.drop_all()
        shutil.rmtree(_INSTANCE, ignore_errors=True)
    print()
    print(table(results))
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": round(time.time() - started, 1),
        "quick": options.quick, "options": {k: v for k, v in vars(options).items() if k != "pg_url"},
        "machine": machine(), "results": [r.as_dict() for r in results], "table": table(results),
    }  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {output} in {report['seconds']:.0f}s; machine: {report['machine']}")
    failed = [r for r in results if r.verdict == "FAIL"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
