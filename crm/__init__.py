"""The membership and supporter CRM: `create_app(config)` builds the Flask application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext

import config as config_module
from config import CONFIGS, Config, ConfigurationError
from crm.core.application import Application

BASE_DIR = Path(__file__).resolve().parent.parent


def create_app(config: str | Config | type[Config] | None = None, **overrides: Any) -> Flask:
    """Build the app from a configuration name, class or instance, plus optional overrides."""
    cfg = _resolve_config(config)
    app = Application(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "crm" / "static"),
        instance_path=str(config_module.INSTANCE_DIR),
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    problems = cfg.problems()
    if problems:
        raise ConfigurationError(f"refusing to start in {cfg.ENV_NAME}: {'; '.join(problems)}")

    app.config.from_object(cfg)
    app.config["ENV_NAME"] = cfg.ENV_NAME
    _configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_template_globals(app)
    register_payment_handlers(app)
    register_domain_hooks(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def _resolve_config(config: str | Config | type[Config] | None) -> Config:
    if config is None:
        import os

        config = os.environ.get("CRM_ENV", "development")
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ConfigurationError(f"unknown configuration {config!r}")
        return CONFIGS[config]()
    if isinstance(config, type):
        return config()
    return config


def _configure_logging(app: Flask) -> None:
    from crm.core.logging import configure_logging

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    from crm.core import security
    from crm.extensions import csrf, db, limiter, login_manager

    uri = str(app.config["SQLALCHEMY_DATABASE_URI"])
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("postgresql"):
        # Fail fast (503) rather than hang when the database cannot be reached, or is frozen or
        # locked: no statement (lock waits included) runs longer than DATABASE_STATEMENT_TIMEOUT.
        connect_args: dict[str, object] = {"connect_timeout": 5}
        # No JIT: our queries are short. The audience count's per-row probes are estimated above
        # jit_above_cost, and compiling them cost more than it saved (~3-5 ms of a ~20 ms count).
        settings = ["-c jit=off"]
        statement_ms = int(float(app.config.get("DATABASE_STATEMENT_TIMEOUT") or 0) * 1000)
        if statement_ms > 0:
            settings.append(f"-c statement_timeout={statement_ms}")
        connect_args["options"] = " ".join(settings)
        options["connect_args"] = {**connect_args, **options.get("connect_args", {})}
    if uri.startswith("postgresql") or (uri.startswith("sqlite:///") and ":memory:" not in uri):
        # A pooled database: hand out the connection returned last, so a worker keeps reusing a
        # few warm connections (each SQLite connection has its own page cache) instead of all.
        options.setdefault("pool_use_lifo", True)
        # A request waits at most this long for a free pooled connection, then gets the 503 page.
        options.setdefault("pool_timeout", float(app.config.get("DATABASE_POOL_TIMEOUT") or 5))
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = lazy_gettext("Please sign in to see that page.")
    # The session stores plain text: the message is made a string, in the reader's language, when flashed.
    login_manager.localize_callback = str
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    # "6th failure within 60 s": a moving window, not fixed minutes that reset at each boundary.
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    # Redis down must not lock everyone out of signing in: log and fall back to memory.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
    _limit_only_writes(app)

    from crm import models  # noqa: F401  (registers every table)
    from crm.core import database

    database.init_app(app)
    security.init_app(app)

    from crm.accounts import session as account_session

    account_session.init_app(app)

    from crm.core import templating

    templating.init_app(app)
    from crm import i18n

    i18n.init_app(app)  # the i18n extension, `_()`/`ngettext`, and the date, time and money filters


def register_blueprints(app: Flask) -> None:
    from crm.accounts.routes import bp as accounts_bp
    from crm.billing.routes import bp as billing_bp
    from crm.email.routes import bp as email_bp
    from crm.events.routes import bp as events_bp
    from crm.join.routes import bp as join_bp
    from crm.members_area.routes import bp as members_bp
    from crm.news.routes import bp as news_bp
    from crm.public.routes import bp as public_bp
    from crm.staff.routes import bp as staff_bp

    for bp in (
        public_bp,
        join_bp,
        billing_bp,
        accounts_bp,
        members_bp,
        news_bp,
        staff_bp,
        email_bp,
        events_bp,
    ):
        app.register_blueprint(bp)


def register_template_globals(app: Flask) -> None:
    """The status and kind enums, so templates compare `m.status == MembershipStatus.GRACE`, not a
    typed word."""
    from crm.billing.models import PaymentKind, PaymentStatus
    from crm.campaigns.models import CampaignStatus
    from crm.email.models import OutboxStatus
    from crm.events.models import BookingStatus, EventKind, MotionStatus
    from crm.memberships.models import MembershipStatus
    from crm.news.models import PostStatus

    app.jinja_env.globals.update(
        BookingStatus=BookingStatus,
        CampaignStatus=CampaignStatus,
        EventKind=EventKind,
        MembershipStatus=MembershipStatus,
        MotionStatus=MotionStatus,
        OutboxStatus=OutboxStatus,
        PaymentKind=PaymentKind,
        PaymentStatus=PaymentStatus,
        PostStatus=PostStatus,
    )


def register_payment_handlers(app: Flask) -> None:
    """Each domain that sells through Stripe Checkout tells the webhook which sessions it fulfils."""
    from crm.events import payments as event_payments
    from crm.join import fulfilment

    fulfilment.init_app()
    event_payments.init_app()


def register_domain_hooks(app: Flask) -> None:
    """A higher domain's step in a lower one's rule, registered so the lower imports none of it."""
    from crm.accounts import new_member
    from crm.campaigns import audience_deleted
    from crm.campaigns import sending as campaign_sending

    new_member.init_app()  # the lifecycle's first activation opens the account
    audience_deleted.init_app()  # deleting an audience stops its campaigns
    campaign_sending.register(app)  # scheduled campaigns start within the minute


def register_errorhandlers(app: Flask) -> None:
    from crm.core import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    from crm.cli import crm_cli
    from crm.core.migrations import register_migration_commands

    app.cli.add_command(crm_cli)
    register_migration_commands(app)  # `flask db`: Flask-Migrate is imported only when it runs


#: Endpoints whose GET is rate-limited (it calls Stripe): the only reads the limiter looks at.
LIMITED_READS = frozenset({"join.success"})

_reads_filter_added = False


def _reads_are_not_limited() -> bool:
    from flask import request

    return request.method in ("GET", "HEAD", "OPTIONS") and request.endpoint not in LIMITED_READS


def _limit_only_writes(app: Flask) -> None:
    """Every limit of this app is on a form's POST (sign-in, reset, join...) or on a read named in
    LIMITED_READS: other reads skip the limiter's bookkeeping (Flask-Limiter's public
    `request_filter`), a good part of a cheap page's cost. tests/security proves each limit holds."""
    global _reads_filter_added
    from crm.extensions import limiter

    if not _reads_filter_added:  # one limiter object for every app this process builds
        limiter.request_filter(_reads_are_not_limited)
        _reads_filter_added = True
