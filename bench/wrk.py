"""wrk (Debian's `wrk` package, C, epoll) as the benchmarks' HTTP load generator for throughput
baselines: the Python generator in loadgen.py shares the 2 CPUs with the server under test and caps
the hello-world baseline (measured: wrk 5.3k-6.4k req/s against hello, loadgen 4.5k), which made
every "÷ hello" ratio read high. `make bench` installs wrk when it is missing; without it (and no
way to install) the benchmarks fall back to loadgen and say so in the figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess  # noqa: S404  (a fixed argument list, no shell)
import tempfile
from pathlib import Path

from bench.loadgen import LOOPBACK, Load

#: Prints the run's summary as one JSON line wrk's own output cannot be confused with.
_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50\":%d,\"p95\":%d,\"p99\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


#: Sent with every request, as loadgen.request_bytes does.
BROWSER_HEADERS = {"User-Agent": "crm-bench", "Accept": "text/html,application/json"}


def available() -> bool:
    return shutil.which("wrk") is not None


def run(port: int, path: str = "/", *, headers: dict[str, str] | None = None, connections: int = 8,
        seconds: float = 5.0, threads: int = 2, host: str = "127.0.0.1") -> Load:  # fmt: skip
    """GET `path` over `connections` keep-alive connections for `seconds`; a Load whose
    `latencies` hold the p50/p95/p99 wrk reports (enough for the percentiles the tables print)."""
    if host not in LOOPBACK:
        raise ValueError("the load generator only talks to loopback")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_REPORT)
    command = ["wrk", "-t", str(max(1, min(threads, connections))), "-c", str(connections),
               "-d", f"{max(1, round(seconds))}s", "--latency", "-s", script.name]  # fmt: skip
    # The headers loadgen (and so bench/signin.py) sends: Flask-Login ties a session to the
    # browser's User-Agent, and a request without it marks the session no longer fresh, which
    # re-signs the cookie on every answer (no browser changes its User-Agent between pages).
    for name, value in {**BROWSER_HEADERS, **(headers or {})}.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{host}:{port}{path}")
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout  # noqa: S603
    finally:
        Path(script.name).unlink(missing_ok=True)
    match = re.search(r"^WRKJSON (\{.*\})$", output, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    found = json.loads(match.group(1))
    load = Load()
    load.requests = int(found["requests"])
    load.seconds = found["duration_us"] / 1e6
    load.bytes = int(found["bytes"])
    # Non-2xx/3xx answers count as errors, like loadgen's `expect`.
    load.errors = sum(int(found[k]) for k in ("connect", "read", "write", "status", "timeout"))
    load.latencies = [found[k] / 1e6 for k in ("p50", "p95", "p99")]
    return load
