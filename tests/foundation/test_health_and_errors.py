"""/healthz in both states, every error page, security headers."""

from __future__ import annotations

import pytest
from flask import abort

from crm import create_app
from crm.contacts.models import Contact
from crm.extensions import db


def test_healthz_reports_database_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_503_when_database_is_unreachable():
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}},
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "error"


def _fault_routes(app):
    @app.get("/_test/abort/<int:code>")
    def _abort(code: int):
        abort(code)

    @app.get("/_test/boom")
    def _boom():
        db.session.add(Contact(email="half-written@example.org"))
        db.session.flush()
        raise RuntimeError("secret-token-abc SELECT * FROM contact")


@pytest.fixture
def app_setup():
    """The fault routes, added when this module's app is built."""
    return _fault_routes


@pytest.fixture
def app_with_faults(app):
    return app


@pytest.mark.parametrize("code", [400, 403, 404, 405, 413, 429, 500])
def test_error_pages_are_friendly_html(app_with_faults, code):
    response = app_with_faults.test_client().get(f"/_test/abort/{code}")
    assert response.status_code == code
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "<h1>" in body and "Traceback" not in body
    assert "Go to the home page" in body


@pytest.mark.parametrize("code", [400, 403, 404, 405, 413, 429, 500])
def test_error_pages_are_json_for_json_requests(app_with_faults, code):
    response = app_with_faults.test_client().get(
        f"/_test/abort/{code}", headers={"Accept": "application/json"}
    )
    assert response.status_code == code
    assert response.get_json()["status"] == code


def test_unexpected_error_rolls_back_and_leaks_nothing(app_with_faults):
    response = app_with_faults.test_client().get("/_test/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret-token-abc" not in body and "SELECT" not in body and "Traceback" not in body
    assert db.session.query(Contact).filter_by(email="half-written@example.org").count() == 0


def test_unknown_page_is_404(client):
    assert client.get("/no-such-page").status_code == 404


def test_the_not_found_page_speaks_the_visitors_language(client):
    """A Spanish browser that follows a dead link is told so in Spanish, with a way home."""
    spanish = client.get("/no-such-page", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert spanish.status_code == 404
    html = spanish.get_data(as_text=True)
    assert "<h1>Página no encontrada</h1>" in html
    assert "Ir a la página de inicio" in html and "Error 404" in html
    assert "Page not found" not in html and "Go to the home page" not in html
    english = client.get("/no-such-page").get_data(as_text=True)
    assert "<h1>Page not found</h1>" in english and "Go to the home page" in english


def test_wrong_method_is_405(client):
    assert client.delete("/").status_code == 405


def test_oversized_body_is_413(app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = app.test_client().post("/login", data={"x": "y" * 5000})
    assert response.status_code == 413


def test_security_headers_on_every_response(client):
    for path in ("/", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp
        script_src = [d for d in csp.split(";") if d.strip().startswith("script-src")][0]
        assert "unsafe-inline" not in script_src
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers


def test_hsts_is_sent_when_https_is_on(app):
    app.config["HSTS"] = True
    # HSTS is decided when the app is built; build one with it on.
    from crm.core import security

    fresh = create_app("testing", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], HSTS=True)
    assert security  # imported for clarity
    response = fresh.test_client().get("/healthz")
    assert int(response.headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 31536000


def test_home_page_serves_no_offsite_assets(client):
    body = client.get("/").get_data(as_text=True)
    for marker in ("https://", "http://", "//fonts.", "cdn"):
        for attribute in ('src="' + marker, 'href="' + marker):
            assert attribute not in body


def test_home_page_has_skip_link_and_language(client):
    body = client.get("/").get_data(as_text=True)
    assert '<html lang="en-GB">' in body
    assert 'href="#main"' in body and 'id="main"' in body
    assert "Become a member" in body
