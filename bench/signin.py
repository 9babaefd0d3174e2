"""Sign in through the app's real forms (password, then the TOTP second factor for staff) and
return the cookie a browser would then send."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from bench.loadgen import fetch, request_bytes

MEMBER_EMAIL = "member@example.org"
STAFF_EMAIL = "admin@example.org"
_TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


class SignInError(RuntimeError):
    pass


def _cookies(headers: dict[str, str], jar: dict[str, str]) -> dict[str, str]:
    for line in headers.get("set-cookie", "").split("\n"):
        name, _, rest = line.partition("=")
        if name.strip():
            value = rest.split(";", 1)[0]
            if value and "Max-Age=0" not in line and "expires=Thu, 01 Jan 1970" not in line:
                jar[name.strip()] = value
            else:
                jar.pop(name.strip(), None)
    return jar


def _header(jar: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}


def _form(port: int, path: str, jar: dict[str, str], fields: dict[str, str]) -> tuple[int, dict[str, str]]:
    status, headers, body = fetch(port, request_bytes("GET", path, port, headers=_header(jar)))
    _cookies(headers, jar)
    token = _TOKEN.search(body)
    if status != 200 or not token:
        raise SignInError(f"GET {path}: {status}, no form")
    data = urlencode({"csrf_token": token.group(1).decode(), **fields}).encode()
    status, headers, _body = fetch(port, request_bytes(
        "POST", path, port, body=data,
        headers={**_header(jar), "Content-Type": "application/x-www-form-urlencoded"}))  # fmt: skip
    _cookies(headers, jar)
    return status, headers


def sign_in(port: int, email: str, password: str, totp_secret: str | None = None) -> str:
    """The Cookie header value of a signed-in browser (staff: after the second factor)."""
    jar: dict[str, str] = {}
    status, headers = _form(port, "/login", jar, {"email": email, "password": password, "next": ""})
    if status not in (302, 303):
        raise SignInError(f"sign-in refused for {email} ({status})")
    if "/login/verify" in headers.get("location", ""):
        if not totp_secret:
            raise SignInError("second factor asked for and no secret given")
        import pyotp

        for _attempt in range(3):
            status, headers = _form(port, "/login/verify", jar, {"code": pyotp.TOTP(totp_secret).now()})
            if status in (302, 303):
                break
            # Each code works once: wait for the next 30-second window and try again.
            time.sleep(30 - time.time() % 30 + 1)
        else:
            raise SignInError("second factor refused")
    return _header(jar)["Cookie"]


def refreshed_cookie(port: int, cookie: str, path: str = "/news") -> str:
    """`cookie` after one visit to `path`, with whatever the answer set (as a browser keeps it).

    The server re-signs the session cookie when the session changes (the language remembered
    after the first page, the idle clock once a minute): a load generator that kept sending the
    sign-in cookie would make every answer write a new one, which no browser causes."""
    jar = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
    status, headers, _body = fetch(port, request_bytes("GET", path, port, headers=_header(jar)))
    if status != 200:
        raise SignInError(f"GET {path} with the signed-in cookie: {status}")
    _cookies(headers, jar)
    return _header(jar)["Cookie"]


def member_cookie(port: int) -> str:
    from crm.demo import DEMO_PASSWORD

    return sign_in(port, MEMBER_EMAIL, DEMO_PASSWORD)


def staff_cookie(port: int) -> str:
    from crm.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    return sign_in(port, STAFF_EMAIL, DEMO_PASSWORD, DEMO_TOTP_SECRET)
