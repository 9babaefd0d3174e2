"""Every setting comes from the environment; development defaults are safe and work offline.

`create_app(config)` takes one of the classes below (or its name). The production class refuses
to start, with a one-line reason, when a secret is missing or a development default is in use.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_PATH", BASE_DIR / "instance"))

#: The secret key the Stripe sandbox accepts; production refuses it.
SANDBOX_SECRET_KEY = "sk_test_sandbox"  # noqa: S105  (the local sandbox, refused in production)
SANDBOX_PUBLISHABLE_KEY = "pk_test_sandbox"
SANDBOX_WEBHOOK_SECRET = "whsec_sandbox"  # noqa: S105
SANDBOX_API_BASE = "http://127.0.0.1:12111"

#: The demo organisation (fictional: a UK solidarity group for the fictional Republic of
#: Serranía): the development defaults below, and what production refuses to run as.
DEMO_ORG_NAME = "Serranía Solidarity Network UK"
DEMO_ORG_ADDRESS = "Unit 4, 12 Example Street, London N1 0AA"
DEMO_CHARITY_NUMBER = "1234567"
DEMO_ORGANISATION = {
    "ORG_NAME": DEMO_ORG_NAME,
    "ORG_ADDRESS": DEMO_ORG_ADDRESS,
    "ORG_CHARITY_NUMBER": DEMO_CHARITY_NUMBER,
}


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool = False) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


def _development_secret_key() -> str:
    """Generate the development key once and keep it in instance/, so sessions survive restarts."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _database_url(default: str) -> str:
    url = _env("DATABASE_URL", default) or default
    # Heroku-style URLs and bare "postgresql://" both go through psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """Settings shared by every environment, read from the environment when instantiated."""

    ENV_NAME = "base"

    def __init__(self) -> None:

        self.DEBUG = False
        self.TESTING = False

        self.ORG_NAME = _env("ORG_NAME", DEMO_ORG_NAME)
        self.ORG_ADDRESS = _env("ORG_ADDRESS", DEMO_ORG_ADDRESS)
        self.ORG_CHARITY_NUMBER = _env("ORG_CHARITY_NUMBER", DEMO_CHARITY_NUMBER)
        #: False for an organisation that is not a charity: every Gift Aid question, column and
        #: page is hidden and the Gift Aid routes answer 404 (crm/core/features.py).
        self.GIFT_AID_ENABLED = _env_bool("GIFT_AID_ENABLED", True)
        #: The organisation's clock: every time shown or typed is on it; stored times are UTC.
        self.TIMEZONE = _env("TIMEZONE", "Europe/London")
        # Unset: the development server's own address (`make run` listens on PORT, default 5000).
        default_base = f"http://127.0.0.1:{_env('PORT', '5000') or '5000'}"
        self.BASE_URL = (_env("BASE_URL", default_base) or "").rstrip("/")

        self.SQLALCHEMY_DATABASE_URI = _database_url(f"sqlite:///{INSTANCE_DIR / 'crm.db'}")
        # The pool reuses the connection returned last (crm/__init__.py); PostgreSQL connections
        # idle in the pool are pinged before use (crm.core.database).
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = {}
        #: PostgreSQL: seconds one statement (lock waits included) may run before it is cancelled
        #: and the request gets the 503 page (0: no limit, e.g. for a long `flask db upgrade`).
        self.DATABASE_STATEMENT_TIMEOUT = float(_env("DATABASE_STATEMENT_TIMEOUT", "10") or 0)
        #: Seconds a request waits for a free pooled database connection before its 503 page.
        self.DATABASE_POOL_TIMEOUT = float(_env("DATABASE_POOL_TIMEOUT", "5") or 5)

        self.STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY", SANDBOX_SECRET_KEY)
        self.STRIPE_PUBLISHABLE_KEY = _env("STRIPE_PUBLISHABLE_KEY", SANDBOX_PUBLISHABLE_KEY)
        self.STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET)
        #: Points the Stripe SDK at a Stripe-compatible server (the sandbox when no key is set).
        self.STRIPE_API_BASE = _env(
            "STRIPE_API_BASE",
            SANDBOX_API_BASE if not _env("STRIPE_SECRET_KEY") else None,
        )
        self.STRIPE_MAX_NETWORK_RETRIES = _env_int("STRIPE_MAX_NETWORK_RETRIES", 2)
        #: Seconds one Stripe call may take (each retry again): short, since a person is usually waiting.
        self.STRIPE_TIMEOUT = float(_env("STRIPE_TIMEOUT", "3") or 3)
        self.STRIPE_WEBHOOK_TOLERANCE = _env_int("STRIPE_WEBHOOK_TOLERANCE", 300)
        #: A CA file to trust for STRIPE_API_BASE instead of the SDK's own bundle (rarely needed).
        self.STRIPE_CA_BUNDLE = _env("STRIPE_CA_BUNDLE")

        self.MAIL_SERVER = _env("MAIL_SERVER")
        self.MAIL_PORT = _env_int("MAIL_PORT", 587)
        self.MAIL_USERNAME = _env("MAIL_USERNAME")
        self.MAIL_PASSWORD = _env("MAIL_PASSWORD")
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", True)
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
        self.MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "membership@example.org")
        self.MAIL_MAX_ATTEMPTS = _env_int("MAIL_MAX_ATTEMPTS", 5)
        #: Without Redis, mail caused by a request is sent on a background thread after the response.
        self.MAIL_SEND_IN_BACKGROUND = _env_bool("MAIL_SEND_IN_BACKGROUND", True)
        #: Whether the mail server delivers internationalised addresses (RFC 6531, josé@example.org).
        self.MAIL_SMTPUTF8 = _env_bool("MAIL_SMTPUTF8", True)

        self.REDIS_URL = _env("REDIS_URL")
        self.CAMPAIGN_RATE_PER_MINUTE = _env_int("CAMPAIGN_RATE_PER_MINUTE", 600)
        self.MAILGUN_WEBHOOK_SIGNING_KEY = _env("MAILGUN_WEBHOOK_SIGNING_KEY") or ""

        self.CURRENCY = (_env("CURRENCY", "gbp") or "gbp").lower()
        #: Offer Bacs Direct Debit beside cards in Checkout for GBP plans (crm/billing/direct_debit.py).
        self.DIRECT_DEBIT_ENABLED = _env_bool("DIRECT_DEBIT_ENABLED", True)
        self.GRACE_DAYS = _env_int("GRACE_DAYS", 30)
        self.PENDING_EXPIRY_HOURS = _env_int("PENDING_EXPIRY_HOURS", 24)
        #: How long an unpaid event booking's places are held before the daily run releases them.
        self.EVENT_HOLD_HOURS = _env_int("EVENT_HOLD_HOURS", 48)
        self.DONATION_MIN = _env_int("DONATION_MIN", 100)  #: minor units
        self.DONATION_MAX = _env_int("DONATION_MAX", 1_000_000)  #: minor units

        # Sessions: Flask's defaults (31 days, no SameSite) are too loose for this list.
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = False
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=_env_int("SESSION_IDLE_HOURS", 2))
        self.STAFF_SESSION_ABSOLUTE_HOURS = _env_int("STAFF_SESSION_ABSOLUTE_HOURS", 12)
        self.REMEMBER_COOKIE_DURATION = timedelta(days=_env_int("REMEMBER_DAYS", 14))
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = False

        self.WTF_CSRF_TIME_LIMIT = None  # tied to the session instead of a clock
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 8 * 1024 * 1024)
        self.MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024

        #: How many reverse proxies sit in front of the app (0: trust no X-Forwarded-* header).
        self.PROXY_COUNT = _env_int("PROXY_COUNT", 0)
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        # Short-lived per-process copies of what many pages show (README, "Settings").
        self.DASHBOARD_CACHE_SECONDS = _env_int("DASHBOARD_CACHE_SECONDS", 60)
        self.DASHBOARD_REFRESH_IN_BACKGROUND = _env_bool("DASHBOARD_REFRESH_IN_BACKGROUND", True)
        self.NEWS_CACHE_SECONDS = _env_int("NEWS_CACHE_SECONDS", 10)
        self.NAV_CACHE_SECONDS = _env_int("NAV_CACHE_SECONDS", 30)
        self.RATELIMIT_HEADERS_ENABLED = True
        self.PREFERRED_URL_SCHEME = "http"
        self.HSTS = False

        self.SECRET_KEY: str | None = None

    def problems(self) -> list[str]:
        """Reasons this configuration must not serve real supporters."""
        return []


class DevelopmentConfig(Config):
    ENV_NAME = "development"

    def __init__(self) -> None:
        super().__init__()
        self.DEBUG = False
        self.SECRET_KEY = _env("SECRET_KEY") or _development_secret_key()


class TestConfig(Config):
    ENV_NAME = "testing"

    def __init__(self) -> None:
        super().__init__()
        self.TESTING = True
        # The dashboard refreshes its figures in the request: no thread outlives a test's database.
        self.DASHBOARD_REFRESH_IN_BACKGROUND = False
        self.PROPAGATE_EXCEPTIONS = False
        self.SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
        self.SQLALCHEMY_DATABASE_URI = _database_url(_env("TEST_DATABASE_URL", "sqlite://") or "sqlite://")
        self.STRIPE_SECRET_KEY = SANDBOX_SECRET_KEY
        self.STRIPE_PUBLISHABLE_KEY = SANDBOX_PUBLISHABLE_KEY
        self.STRIPE_WEBHOOK_SECRET = SANDBOX_WEBHOOK_SECRET
        self.STRIPE_API_BASE = SANDBOX_API_BASE
        self.STRIPE_MAX_NETWORK_RETRIES = 0
        # A loaded CI machine can take seconds to answer the sandbox: a slow answer must not turn
        # into a form error here (tests/join/test_stripe_hanging.py sets the production 3 s).
        self.STRIPE_TIMEOUT = 20.0
        self.MAIL_SERVER = None
        # Tests read the outbox right after a request; the timing tests turn the mail thread on.
        self.MAIL_SEND_IN_BACKGROUND = False
        self.REDIS_URL = None
        self.BASE_URL = "http://crm.test"
        self.ORG_NAME = DEMO_ORG_NAME
        # argon2's cheapest parameters: production strength (crm.accounts.passwords) is most of a
        # sign-in test's time. tests/accounts/test_sign_in.py proves production keeps its strength.
        self.PASSWORD_HASH_TIME_COST = 1
        self.PASSWORD_HASH_MEMORY_COST = 8
        self.PASSWORD_HASH_PARALLELISM = 1


class ProductionConfig(Config):
    ENV_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = _env("SECRET_KEY")
        if not self.GIFT_AID_ENABLED and not _env("ORG_CHARITY_NUMBER"):
            # Not a charity: no number on receipts, rather than the demo's.
            self.ORG_CHARITY_NUMBER = None
        self.SESSION_COOKIE_SECURE = True
        self.REMEMBER_COOKIE_SECURE = True
        self.PREFERRED_URL_SCHEME = "https"
        self.HSTS = True

    def problems(self) -> list[str]:
        found: list[str] = []
        if not self.SECRET_KEY:
            found.append("SECRET_KEY is not set")
        elif len(self.SECRET_KEY) < 32:
            found.append("SECRET_KEY is shorter than 32 characters")
        generated = INSTANCE_DIR / "secret_key"
        if self.SECRET_KEY and generated.exists() and generated.read_text().strip() == self.SECRET_KEY:
            found.append("SECRET_KEY is the generated development key")
        if not _env("DATABASE_URL"):
            found.append("DATABASE_URL is not set")
        if not _env("STRIPE_SECRET_KEY") or self.STRIPE_SECRET_KEY == SANDBOX_SECRET_KEY:
            found.append("STRIPE_SECRET_KEY is not set (the Stripe sandbox is for development)")
        if not _env("STRIPE_PUBLISHABLE_KEY"):
            found.append("STRIPE_PUBLISHABLE_KEY is not set")
        if not _env("STRIPE_WEBHOOK_SECRET") or self.STRIPE_WEBHOOK_SECRET == SANDBOX_WEBHOOK_SECRET:
            found.append("STRIPE_WEBHOOK_SECRET is not set")
        if self.STRIPE_API_BASE and self.STRIPE_API_BASE.rstrip("/") == SANDBOX_API_BASE:
            found.append("STRIPE_API_BASE points at the development sandbox")
        if not self.BASE_URL.startswith("https://"):
            found.append("BASE_URL must be an https:// address")
        if not self.MAIL_SERVER:
            found.append("MAIL_SERVER is not set (console email is for development)")
        elif not (self.MAIL_USE_TLS or self.MAIL_USE_SSL or self.MAIL_PORT == 465):
            found.append(
                "SMTP without TLS (set MAIL_USE_TLS or MAIL_USE_SSL): sign-in links would cross the network in clear"
            )
        if (_env("DATABASE_URL") or "").startswith("sqlite"):
            found.append("DATABASE_URL is SQLite (one writer at a time, no backups tested): use PostgreSQL")
        if self.STRIPE_API_BASE and self.STRIPE_API_BASE.lower().startswith("http://"):
            found.append(
                "STRIPE_API_BASE is plain http: the Stripe secret key would cross the network in clear"
            )
        if not self.RATELIMIT_ENABLED:
            found.append("RATELIMIT_ENABLED is off: sign-in and reset would be open to guessing")
        for name, demo in DEMO_ORGANISATION.items():
            if (getattr(self, name) or "").strip().casefold() == demo.casefold():
                found.append(f"{name} is the demo value {demo!r}: set your organisation's own")
        if self.GIFT_AID_ENABLED and not self.ORG_CHARITY_NUMBER:
            found.append("ORG_CHARITY_NUMBER is not set (Gift Aid needs it; or set GIFT_AID_ENABLED=false)")
        return found


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestConfig,
    "production": ProductionConfig,
}


class ConfigurationError(RuntimeError):
    """Raised when a configuration must not start."""
