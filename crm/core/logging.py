"""Logging that never writes a control character a user typed (no forged log lines), nor a
one-time token from a URL path (sign-in, reset, set-password, confirmation links)."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from flask import Flask

#: Paths whose last segment is a credential: the access logs keep the route, never the token.
_TOKEN_PATH = re.compile(
    r"(/(?:login/link|password/reset|password/set|subscribe/confirm|email/unsubscribe|account/email/confirm)/)"
    r"[^/?#\s\"]+"
)


def without_tokens(text: str) -> str:
    """`text` (a path, a request line, a referrer) with every one-time token shown as [token]."""
    return _TOKEN_PATH.sub(r"\1[token]", text)


class _TokenlessRecords(logging.Filter):
    """For the development server's access lines (werkzeug logs the request line as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(without_tokens(a) if isinstance(a, str) else a for a in record.args)
        record.msg = without_tokens(record.msg) if isinstance(record.msg, str) else record.msg
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover  (gunicorn is a production dependency)
    _GunicornLogger = object


class TokenlessAccessLogger(_GunicornLogger):
    """gunicorn's logger (`logger_class` in gunicorn.conf.py) with tokens kept out of access lines."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if isinstance(value, str) and "/" in value:
                atoms[key] = without_tokens(value)
        return atoms


class _SingleLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace("\r", "\\r").replace("\n", "\\n") if record.exc_info is None else text


def configure_logging(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SingleLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("crm")
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = True
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _TokenlessRecords) for f in werkzeug.filters):
        werkzeug.addFilter(_TokenlessRecords())
