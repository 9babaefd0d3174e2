"""`make run` on other ports (issue 26 item 9): the sandbox follows STRIPE_API_BASE's port, and
BASE_URL (every email link) follows PORT when it is not set."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

import devtools.stripe_sandbox.server as sandbox_server
from config import DevelopmentConfig
from devtools import devserver


@pytest.mark.parametrize(
    ("api_base", "port"),
    [
        ("http://127.0.0.1:12111", 12111),
        ("http://127.0.0.1:13999/", 13999),
        ("http://localhost:8111", 8111),
        ("http://[::1]:9111", 9111),
        ("https://api.stripe.com", None),
        ("http://stripe.example.org:12111", None),
        ("http://10.1.2.3:12111", None),
        ("", None),
    ],
)
def test_the_sandbox_is_started_for_any_loopback_http_address(api_base: str, port: int | None) -> None:
    assert devserver.sandbox_port(api_base) == port


def test_make_run_on_other_ports_starts_the_sandbox_there_and_links_follow_the_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PORT", "5055")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:12555")
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'dev.db'}")
    started: dict[str, Any] = {}
    monkeypatch.setattr(sandbox_server, "serve_in_thread", lambda **kwargs: started.update(kwargs))
    monkeypatch.setattr(Flask, "run", lambda self, **kwargs: started.update(app=self, run=kwargs))
    monkeypatch.setattr(devserver, "demo_logins", lambda: "")
    devserver.main()
    assert started["port"] == 12555
    assert started["webhook_url"] == "http://127.0.0.1:5055/stripe/webhook"
    assert started["run"]["port"] == 5055
    assert started["app"].config["BASE_URL"] == "http://127.0.0.1:5055"


def test_an_explicit_base_url_wins_over_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "5055")
    monkeypatch.setenv("BASE_URL", "https://members.example.org/")
    assert DevelopmentConfig().BASE_URL == "https://members.example.org"
