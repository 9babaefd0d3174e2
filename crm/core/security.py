"""Security headers on every response, proxy trust, and no caching of private pages."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self' {stripe}; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    proxies = app.config.get("PROXY_COUNT", 0)
    if proxies:
        # Forwarded headers are trusted only from the configured number of proxies.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # the documented way to wrap the WSGI app
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )

    else:
        _warn_once_about_unconfigured_proxies(app)

    stripe_origin = app.config.get("STRIPE_API_BASE") or "https://checkout.stripe.com"
    csp = CSP.format(stripe=stripe_origin.rstrip("/"))

    defaults = [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if app.config.get("HSTS"):
        defaults.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name, _value in headers.items()}
        # One pass over the response's headers (a view may have set its own), not one per header.
        headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        private = request.path.startswith(("/account", "/staff", "/news", "/login", "/password"))
        if private or (current_user and current_user.is_authenticated):
            headers["Cache-Control"] = "no-store"
        return response


def _warn_once_about_unconfigured_proxies(app: Flask) -> None:
    """Forwarded headers with PROXY_COUNT=0: every visitor shares the proxy's address, so one
    attacker's failed sign-ins would block everyone's per-address limit. Say so, once."""
    warned: list[bool] = []

    @app.before_request
    def check_forwarded_headers() -> None:
        if warned or "X-Forwarded-For" not in request.headers:
            return
        warned.append(True)
        logging.getLogger("crm.security").warning(
            "requests arrive with X-Forwarded-For but PROXY_COUNT=0: every visitor looks like the "
            "proxy, so rate limits per address would block all sign-ins; set PROXY_COUNT to the "
            "number of proxies in front of the app"
        )
