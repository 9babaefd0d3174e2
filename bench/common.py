"""Shared helpers: results, medians and percentiles, the run's options, the printed table."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Options:
    """What this run does: sizes, rounds and durations (`--quick` shrinks them)."""

    quick: bool = False
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    big: int = 100_000  #: contacts in the "large" data set
    small: int = 1_000  #: contacts in the search baseline
    mid: int = 10_000  #: contacts in the daily-run and import baselines
    rounds: int = 5  #: alternating baseline/subject rounds; medians are reported
    #: /news against hello: more rounds, as a 4-second round of hello swings widely on a shared
    #: 2-vCPU machine (860 to 2,347 req/s within one run)
    news_rounds: int = 7
    seconds: float = 4.0  #: duration of one throughput round
    connections: int = 8  #: concurrent keep-alive connections (2 workers x 4 threads)
    memory_requests: tuple[int, int] = (10_000, 50_000)
    webhook_members: int = 150
    pg_url: str = "postgresql://postgres@127.0.0.1:5432"
    #: row 10's parts to run (`--audience-parts queue,send` skips the count preview)
    audience_parts: tuple[str, ...] = ("count", "queue", "send")

    @classmethod
    def quick_run(cls) -> Options:
        return cls(quick=True, big=5_000, small=500, mid=1_000, rounds=3, news_rounds=3, seconds=2.0,
                   memory_requests=(1_000, 5_000), webhook_members=40)  # fmt: skip


@dataclass
class Result:
    """One benchmark's row in the table."""

    name: str
    backend: str
    metric: str
    target: str
    ratio: float | None = None
    ok: bool | None = None
    note: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.ratio is None and self.ok is None:
            return "n/a"
        return "PASS" if self.ok else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def not_available(name: str, backend: str, metric: str, target: str, reason: str) -> Result:
    return Result(name, backend, metric, target, note=f"n/a: {reason}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95: pct=95)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    finished: list[float] = []
    yield lambda: (finished[0] if finished else time.perf_counter()) - started
    finished.append(time.perf_counter())


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict[str, Any]:
    """What the figures came from (they are only comparable within one run)."""
    info: dict[str, Any] = {
        "host": platform.node(), "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(results: list[Result]) -> str:
    """The results as a Markdown table (printed, and pasted into README and the issue note)."""
    lines = ["| # | benchmark | db | measured | ratio | target | result | figures (medians) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for number, r in enumerate(results, 1):
        ratio = "" if r.ratio is None else f"{r.ratio:.3g}"
        figures = "; ".join(f"{k} {fmt(v)}" for k, v in r.figures.items() if not isinstance(v, (list, dict)))
        if r.note:
            figures = f"{r.note}" + (f"; {figures}" if figures else "")
        lines.append(
            f"| {number} | {r.name} | {r.backend} | {r.metric} | {ratio} | {r.target} | {r.verdict} | {figures} |"
        )
    return "\n".join(lines)
