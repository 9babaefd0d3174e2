"""A small HTTP/1.1 load generator (wrk is not on a fresh machine): keep-alive connections on raw
sockets, spread over a few processes (so the client's GIL is not the bottleneck), each with a few
threads. Loopback only; every run is bounded by a request count and a duration."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Load:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  #: seconds, one per completed request
    statuses: Counter[int] = field(default_factory=Counter)
    bytes: int = 0
    #: percentile -> seconds, as a driver that keeps no per-request latencies reported them (wrk)
    reported: dict[float, float] = field(default_factory=dict)

    def percentile(self, pct: float) -> float:
        """The `pct` percentile latency in seconds: wrk's own figure, else from `latencies`."""
        if pct in self.reported:
            return self.reported[pct]
        if self.reported:
            raise ValueError(f"the driver reported p{sorted(self.reported)}, not p{pct:g}")
        from bench.common import percentile

        return percentile(self.latencies, pct)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def merge(self, other: Load) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.bytes += other.bytes


def request_bytes(method: str, path: str, port: int, *, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:  # fmt: skip
    """A ready-to-send HTTP/1.1 request (keep-alive)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "User-Agent: crm-bench",
             "Accept: text/html,application/json", "Connection: keep-alive"]  # fmt: skip
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        if host not in LOOPBACK:
            raise ValueError("the load generator only talks to loopback")
        self.address = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = bytearray()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return out

    def request(self, raw: bytes, keep_body: bool = False) -> tuple[int, dict[str, str], bytes | int]:
        """Send `raw`, read the whole answer: (status, headers, body or its length)."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self.sock = self._connect()
            try:
                self.sock.sendall(raw)  # type: ignore[union-attr]
                return self._response(keep_body)
            except (ConnectionError, BrokenPipeError):
                self.close()
                if fresh or attempt:  # a new connection failing is a real error
                    raise
        raise ConnectionError("unreachable")  # pragma: no cover

    def _response(self, keep_body: bool) -> tuple[int, dict[str, str], bytes | int]:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        status = int(head[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = (headers[name] + "\n" + value.strip()) if name in headers else value.strip()
        parts: list[bytes] = []
        size = 0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                length = int(self._line().split(b";", 1)[0], 16)
                if length == 0:
                    while self._line():
                        pass
                    break
                data = self._take(length + 2)
                size += length
                if keep_body:
                    parts.append(data[:-2])
        elif "content-length" in headers:
            size = int(headers["content-length"])
            data = self._take(size)
            if keep_body:
                parts.append(data)
        else:  # read to close
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            data, self.buf = bytes(self.buf), bytearray()
            size = len(data)
            parts.append(data)
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, (b"".join(parts) if keep_body else size)


def _thread_loop(host: str, port: int, requests: list[bytes], deadline: float, budget: list[int],
                 lock: threading.Lock, expect: tuple[int, ...], out: Load) -> None:  # fmt: skip
    """Take the next request from the process's list (shared counter: each is sent once per cycle)."""
    conn = Connection(host, port)
    try:
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
                index = budget[1]
                budget[1] += 1
            raw = requests[index % len(requests)]
            began = time.perf_counter()
            try:
                status, _h, size = conn.request(raw)
            except (OSError, ValueError):
                out.errors += 1
                conn.close()
                continue
            out.latencies.append(time.perf_counter() - began)
            out.statuses[status] += 1
            out.bytes += int(size)  # type: ignore[arg-type]
            out.requests += 1
            if status not in expect:
                out.errors += 1
    finally:
        conn.close()


def _process(host: str, port: int, requests: list[bytes], threads: int, seconds: float, max_requests: int,
             expect: tuple[int, ...]) -> Load:  # fmt: skip
    deadline = time.perf_counter() + seconds
    budget, lock = [max_requests, 0], threading.Lock()
    loads = [Load() for _ in range(threads)]
    workers = [
        threading.Thread(
            target=_thread_loop,
            args=(host, port, requests, deadline, budget, lock, expect, loads[i]),
            daemon=True,
        )  # fmt: skip
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    total = Load()
    for load in loads:
        total.merge(load)
    total.seconds = time.perf_counter() - (deadline - seconds)
    return total


def _child(conn: Any, args: tuple[Any, ...]) -> None:
    try:
        conn.send(_process(*args))
    finally:
        conn.close()


def run(port: int, requests: list[bytes], *, connections: int = 8, seconds: float = 5.0,
        max_requests: int = 1_000_000, processes: int | None = None, expect: tuple[int, ...] = (200,),
        host: str = "127.0.0.1") -> Load:  # fmt: skip
    """Send `requests` (in order, cycled) over `connections` keep-alive connections until `seconds`
    pass or `max_requests` are answered; with max_requests == len(requests) each is sent once.
    Returns the counts, statuses and per-request latencies."""
    if host not in LOOPBACK:
        raise ValueError("the load generator only talks to loopback")
    processes = processes or (2 if connections >= 4 else 1)
    processes = min(processes, connections)
    share = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    budgets = [
        max_requests // processes + (1 if i < max_requests % processes else 0) for i in range(processes)
    ]
    total = Load()
    if processes == 1:
        total = _process(host, port, requests, share[0], seconds, budgets[0], expect)
    else:
        ctx = multiprocessing.get_context("fork")
        pipes, children = [], []
        for i in range(processes):
            parent_end, child_end = ctx.Pipe(duplex=False)
            # Process i sends requests i, i+P, i+2P...: together they send the list in order, once per cycle.
            args = (host, port, requests[i::processes] or requests, share[i], seconds, budgets[i], expect)
            child = ctx.Process(target=_child, args=(child_end, args), daemon=True)
            child.start()
            child_end.close()
            pipes.append(parent_end)
            children.append(child)
        for parent_end, child in zip(pipes, children, strict=True):
            part = parent_end.recv()
            total.merge(part)
            total.seconds = max(total.seconds, part.seconds)
            child.join()
    return total


def fetch(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection, with the whole body (sign-in, checks)."""
    conn = Connection("127.0.0.1", port)
    try:
        status, headers, body = conn.request(raw, keep_body=True)
        return status, headers, body  # type: ignore[return-value]
    finally:
        conn.close()
