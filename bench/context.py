"""What every benchmark gets: the options, the databases, signed-in cookies, server helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.common import Options, log, median
from bench.datasets import Databases
from bench.server import Gunicorn
from bench.signin import member_cookie, staff_cookie


@dataclass
class Context:
    options: Options
    data: Databases
    log_dir: Path
    _cookies: dict[tuple[str, str], str] = field(default_factory=dict)

    def backends(self) -> list[str]:
        return [b for b in self.options.backends if b == "sqlite" or self.data.postgres_available()]

    def app_server(self, url: str, **kwargs: Any) -> Gunicorn:
        return Gunicorn("wsgi:app", database_url=url, log_path=self.log_dir / "gunicorn-app.log", **kwargs)

    def hello_server(self, **kwargs: Any) -> Gunicorn:
        return Gunicorn("bench.hello:app", log_path=self.log_dir / "gunicorn-hello.log", **kwargs)

    def cookie(self, kind: str, url: str, port: int) -> str:
        """A signed-in session for `kind` ("member" or "staff") on the database at `url` (reused)."""
        key = (kind, url)
        if key not in self._cookies:
            self._cookies[key] = (member_cookie if kind == "member" else staff_cookie)(port)
        return self._cookies[key]


def alternate(
    rounds: int, runs: dict[str, Callable[[], loadgen.Load]], *, warmup: bool = True
) -> dict[str, list[loadgen.Load]]:
    """Run each measurement in turn, `rounds` times (A B A B ...), so noise hits both alike."""
    if warmup:
        for run in runs.values():
            run()
    out: dict[str, list[loadgen.Load]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            out[name].append(run())
    for name, loads in out.items():
        errors = sum(x.errors for x in loads)
        statuses = sum((x.statuses for x in loads), start=loadgen.Counter())
        log(
            f"{name}: rps {[round(x.rps) for x in loads]} statuses {dict(statuses)}"
            + (f" ERRORS {errors}" if errors else "")
        )
    return out


def median_rps(loads: list[loadgen.Load]) -> float:
    return median([x.rps for x in loads])


def latency_run(port: int, requests: list[bytes], count: int, *, seconds: float = 120.0) -> loadgen.Load:
    """`count` requests one at a time (latency, not throughput: no queueing behind other requests)."""
    return loadgen.run(port, requests, connections=1, processes=1, seconds=seconds, max_requests=count)


def median_p95_ms(loads: list[loadgen.Load]) -> float:
    return median([x.percentile(95) * 1000 for x in loads])


def hello_load(port: int, request: bytes, opts: Any) -> loadgen.Load:
    """One round of the hello baseline: driven by wrk when it is installed (the Python generator
    caps hello on 2 CPUs, see bench/wrk.py), else by loadgen."""
    from bench import wrk

    if wrk.available():
        return wrk.run(port, "/", connections=opts.connections, seconds=opts.seconds)
    return loadgen.run(port, [request], connections=opts.connections, seconds=opts.seconds)
