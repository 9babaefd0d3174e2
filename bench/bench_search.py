"""2. /staff/members?q= substring search: p95 latency at the large data set divided by p95 at
1,000 contacts, the same queries (name fragments, email, postcode with and without its space,
membership number), one request at a time, in alternating rounds against two servers."""

from __future__ import annotations

from urllib.parse import quote

from bench import loadgen
from bench.ceiling import generator_overhead
from bench.common import Result, log
from bench.context import Context, alternate, latency_run, median_p95_ms

NAME = "search"
TARGET = 2.0
#: Fragments that exist at every size (seed names, towns' postcodes, low ids), not only prefixes.
QUERIES = ["orres", "okafor", "ana.smi", "example.net", "LS1 ", "cf10", "M000012", "uma.wil", "xyzzy-none"]


def run(ctx: Context) -> list[Result]:
    return [run_backend(ctx, backend) for backend in ctx.backends()]


def run_backend(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    small_url, big_url = ctx.data.seeded(backend, opts.small), ctx.data.seeded(backend, opts.big)
    per_round = len(QUERIES) * (2 if opts.quick else 4)
    with ctx.app_server(small_url) as small, ctx.app_server(big_url) as big:
        requests = {}
        for label, server, url in (("small", small, small_url), ("big", big, big_url)):
            cookie = ctx.cookie("staff", url, server.port)
            requests[label] = [
                loadgen.request_bytes(
                    "GET", f"/staff/members?q={quote(q)}", server.port, headers={"Cookie": cookie}
                )
                for q in QUERIES
            ]
            status, _h, body = loadgen.fetch(server.port, requests[label][0])
            if status != 200 or b"orres" not in body.lower():
                log(f"warning: search page answered {status} without the expected match")
        loads = alternate(opts.rounds, {
            f"{opts.small:,} contacts": lambda: latency_run(small.port, requests["small"], per_round),
            f"{opts.big:,} contacts": lambda: latency_run(big.port, requests["big"], per_round),
        })  # fmt: skip
    small_p95, big_p95 = (
        median_p95_ms(loads[f"{opts.small:,} contacts"]),
        median_p95_ms(loads[f"{opts.big:,} contacts"]),
    )
    ratio = big_p95 / small_p95 if small_p95 else 0.0
    errors = sum(x.errors for group in loads.values() for x in group)
    return Result(
        NAME,
        backend,
        f"p95 at {opts.big:,} ÷ p95 at {opts.small:,}",
        f"≤ {TARGET:g}",
        ratio,
        ratio <= TARGET and errors == 0,
        note=f"{errors} errors" if errors else "",
        figures={
            f"p95 ms at {opts.big:,}": big_p95,
            f"p95 ms at {opts.small:,}": small_p95,
            "driver": "loadgen, one at a time",
            **generator_overhead(),
        },
    )
