"""The signed session cookie: Flask's own format and checks (every request's cookie is verified
by itsdangerous, nothing verified is remembered), with two things that give the same answer every
time done once:

- the serializer is built once per secret key (and its fallbacks), not twice per request;
- a session that did not change writes no cookie without first working out the cookie's
  settings (the cookie is written only when the session changes, and its idle clock moves once
  a minute: crm.accounts.session.LAST_SEEN_RESOLUTION_SECONDS).

Whether the session it names is still live (not signed out, revoked, or idle for too long) is
checked against the database on every request (crm.accounts.session).
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, Response
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class CookieSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._serializer: URLSafeTimedSerializer | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if key != self._key or self._serializer is None:
            serializer = super().get_signing_serializer(app)
            with self._lock:
                self._serializer, self._key = serializer, key
        return self._serializer

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
