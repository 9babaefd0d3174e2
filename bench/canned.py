"""The trivial server the load generator's own limits are measured against (issue 25 item 5): it
answers every request with the same canned response, reading only as far as the end of the request
(its headers and any Content-Length body), with no parsing, routing or application behind it. Its
answers are what the generator costs: what a run reaches against it is the generator's ceiling (a
lower bound, as this server shares the CPUs too), and a one-at-a-time request against it is the
generator's own per-request overhead."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.loadgen import fetch, request_bytes

BODY = b"Hello, world!"
#: What hello.py answers, minus what gunicorn and Flask add.
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(BODY), BODY)
)


class _Canned(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        answers = 0
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end]
            length = 0
            at = head.lower().find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buf) < end + 4 + length:
                break
            self.buf = self.buf[end + 4 + length :]
            answers += 1
        if answers and self.transport is not None:
            self.transport.write(RESPONSE * answers)


def _serve(sock: socket.socket) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Canned, sock=sock)
        await server.serve_forever()

    asyncio.run(main())


@contextmanager
def canned_server(processes: int = 2) -> Iterator[int]:
    """`with canned_server() as port:` a server of `processes` processes (one listening socket, as
    gunicorn's workers share one) on a free loopback port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.setblocking(False)
    port = int(sock.getsockname()[1])
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_serve, args=(sock,), daemon=True) for _ in range(processes)]
    for child in children:
        child.start()
    sock.close()
    try:
        probe = request_bytes("GET", "/", port)
        deadline = time.monotonic() + 10
        while True:
            try:
                if fetch(port, probe)[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
