"""Who fulfils a paid Checkout Session: a registry the selling domains fill at start-up.

Billing receives every Stripe event but does not own what was sold: join owns memberships,
renewals and donations, events owns bookings. Each registers a handler for the
`metadata["kind"]` of the sessions it starts (`create_app` calls their `init_app`), and the
webhook dispatches on that kind, so billing imports neither join nor events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from crm.billing.stripe_gateway import CheckoutResult


class CheckoutHandler(Protocol):
    def __call__(self, session: CheckoutResult, *, stripe_event_id: str | None = None) -> str: ...


_handlers: dict[str, CheckoutHandler] = {}
_default: list[CheckoutHandler] = []


def register_checkout(*kinds: str, default: bool = False) -> Callable[[CheckoutHandler], CheckoutHandler]:
    """Route paid sessions whose metadata kind is one of `kinds` to the decorated handler;
    `default`: also the sessions with no kind, or a kind no domain registered."""

    def decorate(handler: CheckoutHandler) -> CheckoutHandler:
        for kind in kinds:
            _handlers[kind] = handler
        if default:
            _default[:] = [handler]
        return handler

    return decorate


def checkout_handler_for(session: CheckoutResult) -> CheckoutHandler | None:
    """The handler that owns this session, or None when no domain registered one."""
    return _handlers.get(session.kind) or (_default[0] if _default else None)
