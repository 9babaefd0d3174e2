"""What the load generator itself can do, measured in the same run (issue 25 item 5), so that a
row driven by bench/loadgen.py shows that the generator is not what limits it: its ceiling (req/s
with the row's settings against bench/canned.py's canned answer, beside the hello figure) and, for
latency runs, its own per-request time one request at a time."""

from __future__ import annotations

from typing import Any

from bench import loadgen
from bench.canned import canned_server
from bench.context import latency_run, median_rps

#: Requests in the one-at-a-time overhead run (about a second).
OVERHEAD_REQUESTS = 2_000


def generator_overhead() -> dict[str, float]:
    """loadgen's own time per request, one at a time as the latency runs send them, against a
    canned answer: what every p95 in a latency row includes besides the server's work."""
    with canned_server() as port:
        load = latency_run(port, [loadgen.request_bytes("GET", "/", port)], OVERHEAD_REQUESTS)
    return {
        "generator p50 ms (canned answer)": load.percentile(50) * 1000,
        "generator p95 ms (canned answer)": load.percentile(95) * 1000,
    }


def loadgen_ceiling(opts: Any) -> dict[str, float]:
    """loadgen's req/s against a canned answer with the throughput rows' settings (connections,
    processes, threads), the median of `opts.rounds` rounds: to be ≥ 2 × the row's hello figure."""
    with canned_server() as port:
        raw = loadgen.request_bytes("GET", "/", port)
        loads = [loadgen.run(port, [raw], connections=opts.connections, seconds=opts.seconds)
                 for _ in range(opts.rounds)]  # fmt: skip
    return {"loadgen ceiling req/s (canned answer)": median_rps(loads)}
