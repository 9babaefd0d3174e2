"""Issue 26 items 11 and 18 (control #41): what production refuses to start with, each with its
reason; one-time tokens never in the access log; forwarded headers with no proxy configured."""

from __future__ import annotations

import logging
import threading
import urllib.request
from datetime import timedelta

import pytest
from gunicorn.config import Config as GunicornConfig
from werkzeug.serving import make_server

from config import DEMO_ORGANISATION, ConfigurationError, DevelopmentConfig
from crm import create_app
from crm.core.logging import TokenlessAccessLogger
from tests.foundation.test_config import GOOD_PRODUCTION_ENV
from tests.security.helpers import link_in, outbox


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in (
        "STRIPE_API_BASE",
        "REDIS_URL",
        "RATELIMIT_ENABLED",
        "MAIL_USE_TLS",
        "MAIL_USE_SSL",
        "MAIL_PORT",
        *GOOD_PRODUCTION_ENV,
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in GOOD_PRODUCTION_ENV.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def _refusal() -> str:
    with pytest.raises(ConfigurationError) as raised:
        create_app("production")
    return str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DATABASE_URL", "sqlite:////srv/crm.db", "DATABASE_URL is SQLite"),
        ("STRIPE_API_BASE", "http://stripe-proxy.internal", "STRIPE_API_BASE is plain http"),
        ("RATELIMIT_ENABLED", "0", "RATELIMIT_ENABLED is off"),
        ("MAIL_USE_TLS", "0", "SMTP without TLS"),
    ],
)
def test_production_refuses_an_unsafe_setting_with_its_reason(production_env, variable, value, reason):
    production_env.setenv(variable, value)
    message = _refusal()
    assert reason in message and "\n" not in message


def test_production_accepts_smtp_over_implicit_tls_on_port_465(production_env):
    production_env.setenv("MAIL_USE_TLS", "0")
    production_env.setenv("MAIL_PORT", "465")
    create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://")


@pytest.mark.parametrize("name", sorted(DEMO_ORGANISATION))
def test_production_refuses_the_demo_organisation(production_env, name):
    production_env.delenv(name)  # falls back to the development default
    assert getattr(DevelopmentConfig(), name) == DEMO_ORGANISATION[name]
    message = _refusal()
    assert f"{name} is the demo value" in message


def test_one_time_tokens_never_reach_the_development_servers_access_log(app, member, caplog):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app.test_client().post("/login/link", data={"email": "member@example.org"})
        path = link_in(outbox("login_link")[-1], "/login/link/")
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{path}").read()  # noqa: S310
    finally:
        server.shutdown()
    token = path.rsplit("/", 1)[1]
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/login/link/[token]" in line for line in lines)
    assert not any(token in line for line in lines)


def test_one_time_tokens_never_reach_the_gunicorn_access_log():
    class Response:
        status, sent, headers = "200 OK", 10, []

    token = "Zx" * 22
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/password/reset/{token}",
        "PATH_INFO": f"/password/reset/{token}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "",
        "HTTP_REFERER": f"https://x/password/set/{token}",
    }
    logger = TokenlessAccessLogger(GunicornConfig())
    atoms = logger.atoms(Response(), environ, environ, timedelta(seconds=0))
    assert atoms["U"] == "/password/reset/[token]" and token not in atoms["r"] and token not in atoms["f"]


def test_forwarded_headers_without_a_configured_proxy_are_reported_once(app, client, caplog):
    assert app.config["PROXY_COUNT"] == 0
    with caplog.at_level(logging.WARNING, logger="crm.security"):
        for n in range(3):
            client.get("/login", headers={"X-Forwarded-For": f"198.51.100.{n}"})
    warnings = [r for r in caplog.records if r.name == "crm.security" and "PROXY_COUNT=0" in r.getMessage()]
    assert len(warnings) == 1
