"""Listing what Stripe created since a time, for reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.billing.stripe_gateway.payments import RefundFacts

from crm.billing.stripe_gateway.client import (
    _call,
    get_client,
)

if TYPE_CHECKING:
    from crm.billing.stripe_gateway.client import StripeObject


def _iterate(what: str, fn: Any, params: dict[str, Any]) -> Iterator[StripeObject]:
    page = _call(what, fn, params)
    iterator = page.auto_paging_iter()
    while True:
        try:
            item = _call(what, next, iterator)
        except StopIteration:
            return
        yield item


def list_refunds(created_gte: int) -> Iterator[RefundFacts]:
    from crm.billing.stripe_gateway.payments import refund_facts

    for refund in _iterate(
        "list refunds",
        get_client().v1.refunds.list,
        {"created": {"gte": int(created_gte)}, "limit": 100},
    ):
        yield refund_facts(refund)


def list_events(created_gte: int, types: list[str] | None = None) -> Iterator[StripeObject]:
    params: dict[str, Any] = {"created": {"gte": int(created_gte)}, "limit": 100}
    if types:
        params["types"] = types
    return _iterate("list events", get_client().v1.events.list, params)
