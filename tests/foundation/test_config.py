"""The factory and configuration: production refuses development defaults."""

from __future__ import annotations

import pytest

from config import ConfigurationError, DevelopmentConfig, ProductionConfig
from crm import create_app

GOOD_PRODUCTION_ENV = {
    "SECRET_KEY": "p" * 48,
    "DATABASE_URL": "postgresql://crm@db.internal/crm",
    "STRIPE_SECRET_KEY": "sk_live_fake_for_tests_only",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_fake_for_tests_only",
    "STRIPE_WEBHOOK_SECRET": "whsec_fake_for_tests_only",
    "BASE_URL": "https://members.example.org",
    "MAIL_SERVER": "smtp.example.org",
    "ORG_NAME": "Members of an Example Charity",
    "ORG_ADDRESS": "1 Real Street, London N1 1AA",
    "ORG_CHARITY_NUMBER": "7654321",
}


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("STRIPE_API_BASE", "REDIS_URL", "GIFT_AID_ENABLED", *GOOD_PRODUCTION_ENV):
        monkeypatch.delenv(key, raising=False)
    for key, value in GOOD_PRODUCTION_ENV.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_production_with_every_secret_set_has_no_problems(production_env):
    assert ProductionConfig().problems() == []


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("SECRET_KEY", None, "SECRET_KEY is not set"),
        ("SECRET_KEY", "short", "SECRET_KEY is shorter"),
        ("DATABASE_URL", None, "DATABASE_URL is not set"),
        ("STRIPE_SECRET_KEY", None, "STRIPE_SECRET_KEY is not set"),
        ("STRIPE_SECRET_KEY", "sk_test_sandbox", "STRIPE_SECRET_KEY is not set"),
        ("STRIPE_WEBHOOK_SECRET", None, "STRIPE_WEBHOOK_SECRET is not set"),
        ("STRIPE_API_BASE", "http://127.0.0.1:12111", "development sandbox"),
        ("BASE_URL", "http://members.example.org", "https://"),
        ("MAIL_SERVER", None, "MAIL_SERVER is not set"),
        ("ORG_CHARITY_NUMBER", "1234567", "ORG_CHARITY_NUMBER is the demo value"),
        ("ORG_CHARITY_NUMBER", None, "ORG_CHARITY_NUMBER is the demo value"),
    ],
)
def test_production_refuses_to_start_with_a_development_default(production_env, variable, value, reason):
    if value is None:
        production_env.delenv(variable)
    else:
        production_env.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        create_app("production")
    message = str(raised.value)
    assert reason in message
    assert "\n" not in message, "the reason is one line"


def test_production_refuses_the_generated_development_key(production_env, tmp_path, monkeypatch):
    import config

    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    production_env.delenv("SECRET_KEY")
    generated = DevelopmentConfig().SECRET_KEY
    production_env.setenv("SECRET_KEY", generated)
    assert "SECRET_KEY is the generated development key" in ProductionConfig().problems()


def test_development_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    import config

    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = DevelopmentConfig().SECRET_KEY
    assert first and len(first) >= 32
    assert DevelopmentConfig().SECRET_KEY == first


def test_production_without_gift_aid_may_keep_the_demo_charity_number(production_env):
    production_env.delenv("ORG_CHARITY_NUMBER")
    production_env.setenv("GIFT_AID_ENABLED", "false")
    assert ProductionConfig().problems() == []


def test_production_cookies_are_secure(production_env):
    app = create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["DEBUG"] is False


def test_database_url_postgres_scheme_uses_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert DevelopmentConfig().SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@h/db"


def test_unknown_configuration_name_is_refused():
    with pytest.raises(ConfigurationError):
        create_app("staging-typo")
