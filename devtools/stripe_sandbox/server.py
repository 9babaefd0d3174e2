"""Run the sandbox: `serve_in_thread(...)` for `make run` and tests, `python -m devtools.stripe_sandbox`
on its own."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devtools.stripe_sandbox.api import SandboxApp
from devtools.stripe_sandbox.sandbox import Sandbox

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """No access log (tests make thousands of calls); errors are still logged."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        if os.environ.get("STRIPE_SANDBOX_VERBOSE"):
            super().log_request(*args, **kwargs)

    def log_error(self, *args: Any) -> None:
        log.debug("stripe sandbox: " + (args[0] if args else ""), *args[1:])


class SandboxServer:
    """A running sandbox: `.url` (its base address), `.sandbox` (state and controls), `.stop()`."""

    def __init__(self, server: BaseWSGIServer, sandbox: Sandbox, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.sandbox = sandbox
        host = server.host
        scheme = "https" if getattr(server, "ssl_context", None) else "http"
        self.url = f"{scheme}://{host}:{server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.sandbox.stop()


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    webhook_url: str | None = None,
    webhook_secret: str = "whsec_sandbox",  # noqa: S107  (the sandbox's own fake secret)
    state_file: str | os.PathLike[str] | None = None,
    delivery: str = "auto",
    secret_key: str = "sk_test_sandbox",  # noqa: S107
    ssl_context: Any = None,
) -> SandboxServer:
    """Start the sandbox on `host:port` (0: a free port) in a daemon thread; over TLS with
    `ssl_context` (a (cert, key) pair of file paths or an ssl.SSLContext), as the production
    configuration's smoke test needs (production refuses a plain-http Stripe address)."""
    sandbox = Sandbox(
        secret_key=secret_key,
        webhook_secret=webhook_secret,
        webhook_url=webhook_url,
        delivery=delivery,
        state_file=state_file,
    )
    server = make_server(
        host, port, SandboxApp(sandbox), threaded=True, request_handler=_QuietHandler, ssl_context=ssl_context
    )
    thread = threading.Thread(target=server.serve_forever, name="stripe-sandbox", daemon=True)
    thread.start()
    return SandboxServer(server, sandbox, thread)
