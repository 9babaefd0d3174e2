"""Start and stop gunicorn (the deployment's gunicorn.conf.py) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, ROOT, VENV_BIN
from bench.loadgen import fetch, request_bytes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """`with Gunicorn("wsgi:app", database_url=...) as server:` then `server.port`."""

    def __init__(self, app: str = "wsgi:app", *, database_url: str | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), log_path: Path | None = None) -> None:  # fmt: skip
        self.app = app
        self.port = free_port()
        self.env = dict(os.environ)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.env.update(env or {})
        self.env["GUNICORN_BIND"] = f"127.0.0.1:{self.port}"
        conf = (
            BENCH_DIR / "hello_gunicorn.conf.py"
            if app.startswith("bench.hello")
            else ROOT / "gunicorn.conf.py"
        )
        self.command = [str(VENV_BIN / "gunicorn"), "-c", str(conf), *args, app]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> None:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out, stderr=out)  # noqa: S603
        deadline = time.monotonic() + timeout
        probe = request_bytes("GET", "/healthz" if self.app == "wsgi:app" else "/", self.port)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn {self.app} exited with {self.proc.returncode} (log: {self.log_path})"
                )
            try:
                status, _h, _b = fetch(self.port, probe)
                if status == 200 and len(self.worker_pids()) >= int(self.env.get("GUNICORN_WORKERS", "2")):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn {self.app} did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def worker_pids(self) -> list[int]:
        """The workers are the master's children."""
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def worker_rss_mb(self) -> dict[int, float]:
        """Resident memory of each worker, in MB (VmRSS)."""
        out = {}
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[pid] = int(line.split()[1]) / 1024
            except OSError:
                continue
        return out
