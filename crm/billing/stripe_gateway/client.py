"""The Stripe client, its errors, and the one reader of Stripe fields (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, has_app_context


class _StripeOnFirstUse:
    """The `stripe` module, imported on the first attribute read: the SDK and the HTTP library
    under it are ~6 MB that a worker sending email, or a web process serving news, never needs
    until it talks to Stripe. `import` inside the method is thread-safe (the import system locks
    the module while it loads), unlike Python 3.11's `importlib.util.LazyLoader`."""

    def __getattr__(self, name: str) -> Any:
        import stripe as module

        return getattr(module, name)

    def __setattr__(self, name: str, value: Any) -> None:
        import stripe as module

        setattr(module, name, value)


if TYPE_CHECKING:
    import stripe
    from stripe import StripeObject as StripeObject
else:
    stripe = _StripeOnFirstUse()

log = logging.getLogger(__name__)

_CLIENT_CACHE_KEY = "crm_stripe_clients"


class GatewayError(Exception):
    """A Stripe call failed. `user_message` is safe to show; `code` is Stripe's error code."""

    def __init__(
        self,
        message: str,
        *,
        user_message: str = "Our payment provider could not complete that. Please try again later.",
        code: str | None = None,
        http_status: int | None = None,
        kind: str = "api",
    ) -> None:
        super().__init__(message)
        self.user_message = user_message
        self.code = code
        self.http_status = http_status
        #: declined, unreachable, not_found, invalid, busy, config, api
        self.kind = kind


class InvalidWebhook(Exception):
    """A webhook body whose signature is missing, wrong or too old, or that is not an event."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


# --- the client -------------------------------------------------------------------------------


def get_client(app: Flask | None = None) -> stripe.StripeClient:
    """One StripeClient per app and settings (a changed STRIPE_API_BASE gets a fresh client)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy
    cfg = app.config
    api_key = cfg.get("STRIPE_SECRET_KEY") or ""
    api_base = (cfg.get("STRIPE_API_BASE") or "").rstrip("/")
    retries = int(cfg.get("STRIPE_MAX_NETWORK_RETRIES", 2) or 0)
    timeout = float(cfg.get("STRIPE_TIMEOUT", 3))
    key = (api_key, api_base, retries, timeout)
    cache: dict[tuple[Any, ...], stripe.StripeClient] = app.extensions.setdefault(_CLIENT_CACHE_KEY, {})
    client = cache.get(key)
    if client is None:
        options: dict[str, Any] = {"max_network_retries": retries}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        try:
            options["http_client"] = stripe.RequestsClient(timeout=timeout)
        except Exception:  # noqa: BLE001  (requests missing: the SDK's default client will do)
            log.debug("stripe: requests unavailable, using the SDK's default HTTP client")
        if cfg.get("STRIPE_CA_BUNDLE"):
            # Trust another CA for Stripe's address (a TLS-inspecting proxy, the smoke test's sandbox).
            stripe.ca_bundle_path = str(cfg["STRIPE_CA_BUNDLE"])
        client = stripe.StripeClient(api_key, **options)
        cache.clear()
        cache[key] = client
    return client


def reset_client(app: Flask | None = None) -> None:
    """Forget the cached client (tests that point the app at another sandbox)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy
    app.extensions.pop(_CLIENT_CACHE_KEY, None)


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one SDK call, turning Stripe's exceptions into GatewayError."""
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as error:
        raise GatewayError(
            f"{what}: card error {error.code}",
            user_message="Your card was declined. Please try another card.",
            code=error.code,
            http_status=error.http_status,
            kind="declined",
        ) from error
    except stripe.APIConnectionError as error:
        log.warning("stripe: %s: cannot reach Stripe: %s", what, error.user_message or type(error).__name__)
        raise GatewayError(
            f"{what}: cannot reach Stripe",
            user_message="We could not reach our payment provider. Please try again in a few minutes.",
            kind="unreachable",
        ) from error
    except stripe.RateLimitError as error:
        raise GatewayError(
            f"{what}: rate limited",
            user_message="Our payment provider is busy. Please try again in a minute.",
            code=error.code,
            http_status=error.http_status,
            kind="busy",
        ) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        log.error("stripe: %s: Stripe refused our credentials (check STRIPE_SECRET_KEY)", what)
        raise GatewayError(
            f"{what}: authentication refused",
            user_message="Payments are not available right now. Please try again later.",
            http_status=error.http_status,
            kind="config",
        ) from error
    except stripe.IdempotencyError as error:
        log.error("stripe: %s: an idempotency key was reused with other parameters", what)
        raise GatewayError(
            f"{what}: {error.user_message}",
            user_message="That payment could not be set up.",
            code=error.code,
            http_status=error.http_status,
            kind="invalid",
        ) from error
    except stripe.InvalidRequestError as error:
        not_found = error.code == "resource_missing"
        log.warning("stripe: %s: invalid request (%s): %s", what, error.code, error.user_message)
        raise GatewayError(
            f"{what}: {error.user_message}",
            user_message=(
                "We could not find that payment record." if not_found else "That payment could not be set up."
            ),
            code=error.code,
            http_status=error.http_status,
            kind="not_found" if not_found else "invalid",
        ) from error
    except stripe.StripeError as error:
        log.warning("stripe: %s failed (%s): %s", what, type(error).__name__, error.user_message)
        raise GatewayError(
            f"{what}: {type(error).__name__}",
            code=getattr(error, "code", None),
            http_status=getattr(error, "http_status", None),
        ) from error


def _opts(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def _key_for(prefix: str, params: dict[str, Any]) -> str:
    """An idempotency key that is the same for the same intended request, and only for it."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return f"{prefix}-{digest}"


_READS_KEY = "crm_stripe_reads"


@contextmanager
def remembered_reads() -> Iterator[None]:
    """Within this block (one webhook event), fetching the same Stripe object again returns the
    first answer: an event's processing can fetch what it needs up front, before its transaction
    takes any lock, and read the same state throughout. Nothing is kept after the block."""
    previous = g.get(_READS_KEY)
    setattr(g, _READS_KEY, {})
    try:
        yield
    finally:
        setattr(g, _READS_KEY, previous)


def _remembered(kind: str, ident: str, fetch: Any) -> StripeObject:
    reads = g.get(_READS_KEY) if has_app_context() else None
    if reads is None:
        return fetch()
    key = (kind, ident)
    if key not in reads:
        reads[key] = fetch()
    return reads[key]


def field(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a Stripe object or a dict (StripeObjects have no .get): the one way the app
    reads a Stripe field."""
    if obj is None or isinstance(obj, str):
        return default
    try:
        return obj[key] if key in obj else default
    except (KeyError, TypeError):
        return default


def _plain(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


def _ts(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def id_of(value: Any) -> str | None:
    """An id whether Stripe sent the bare id or the expanded object."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    found = field(value, "id")
    return str(found) if found else None
