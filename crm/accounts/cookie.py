"""The signed session cookie: Flask's own format and checks, with the work that gives the same
answer every time done once.

Flask builds a new serializer (and with it a test dump of an empty dict) twice per request, and
checks the cookie's signature and decodes it on every request. A browser sends the same cookie
for about a minute at a time (the cookie is written only when the session changes, and its idle
clock moves once a minute: crm.accounts.session.LAST_SEEN_RESOLUTION_SECONDS), so here:

- the serializer is built once per secret key (and its fallbacks);
- a session that did not change writes no cookie without first working out the cookie's
  settings;
- a cookie whose signature checked out is remembered, by its exact value, with what it held and
  when it was signed, in a bounded table per process. The next request with that exact value
  gets a fresh copy of the same contents, provided the cookie is still within the session's
  lifetime, as itsdangerous would have decided it. A changed byte is a different value and goes
  through the full check. Only sessions holding plain values (text, numbers, true/false) are
  remembered, so nothing one request changes in place can reach another.

This is the cookie only. Whether the session it names is still live (not signed out, revoked, or
idle for too long) is checked against the database on every request (crm.accounts.session).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer

#: How many verified cookies a process remembers (~1 KB each); the oldest go first.
REMEMBERED_COOKIES = 2048

_PLAIN = (str, int, float, bool, type(None))


class CookieSessionInterface(SecureCookieSessionInterface):
    def __init__(self, remembered: int = REMEMBERED_COOKIES) -> None:
        self._limit = remembered
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._serializer: URLSafeTimedSerializer | None = None
        self._verified: dict[str, tuple[dict[str, Any], int]] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if key != self._key or self._serializer is None:
            serializer = super().get_signing_serializer(app)
            with self._lock:
                self._serializer, self._key = serializer, key
                self._verified = {}  # checked with another key
        return self._serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        verified = self._verified
        known = verified.get(value)
        if known is not None:
            contents, signed_at = known
            # itsdangerous' rule: too old, or signed in the future, is refused.
            if 0 <= int(time.time()) - signed_at <= max_age:
                return self.session_class(contents)
        try:
            contents, signed = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(contents, dict) and all(isinstance(v, _PLAIN) for v in contents.values()):
            self._remember(verified, value, dict(contents), int(signed.timestamp()))
        return self.session_class(contents)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not self.should_set_cookie(app, session):
            # Flask's own path writes nothing in this case either (it works out the cookie's
            # domain, path and flags first, a good part of a cached page's cost); only the
            # Vary header, when the page read the session.
            if session.accessed:
                if "Vary" in response.headers:
                    response.vary.add("Cookie")
                else:
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)

    def _remember(self, verified: dict[str, Any], value: str, contents: dict[str, Any], signed_at: int) -> None:
        with self._lock:
            if verified is not self._verified:
                return  # the key changed meanwhile
            while len(verified) >= self._limit:
                del verified[next(iter(verified))]
            verified[value] = (contents, signed_at)
