"""Keeping each plan's Stripe product and price in step with the plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.memberships.models import Plan

from crm.billing.stripe_gateway.client import (
    GatewayError,
    _call,
    _key_for,
    _opts,
    field,
    get_client,
    id_of,
)


def _price_matches(price: Any, plan: Plan, product_id: str) -> bool:
    recurring = field(price, "recurring")
    interval = recurring["interval"] if recurring else "lifetime"
    return (
        field(price, "unit_amount") == plan.amount
        and str(field(price, "currency")) == plan.currency.lower()
        and interval == plan.interval
        and (recurring is None or int(field(recurring, "interval_count") or 1) == 1)
        and id_of(field(price, "product")) == product_id
    )


def sync_plan(plan: Plan) -> bool:
    """Create or update the plan's Product and Price; True when anything changed.

    Prices are immutable in Stripe: a changed amount, currency or interval makes a new Price and
    archives the old one (existing subscriptions keep it until they move).
    """
    client = get_client()
    changed = False
    product_fields: dict[str, Any] = {"name": plan.name, "active": bool(plan.active)}
    if plan.description:
        product_fields["description"] = plan.description[:5000]
    product = None
    if plan.stripe_product_id:
        try:
            product = _call("retrieve product", client.v1.products.retrieve, plan.stripe_product_id)
        except GatewayError as error:
            if error.kind != "not_found":
                raise
    if product is None:
        params = {**product_fields, "metadata": {"plan_id": str(plan.id)}}
        product = _call(
            "create product",
            client.v1.products.create,
            params,
            _opts(_key_for(f"plan-{plan.id}-product", params)),
        )
        changed = True
    else:
        updates = {k: v for k, v in product_fields.items() if field(product, k) != v}
        if updates:
            product = _call("update product", client.v1.products.update, product.id, updates)
            changed = True
    product_id = str(product.id)
    if plan.stripe_product_id != product_id:
        plan.stripe_product_id = product_id
        changed = True

    old_price = None
    if plan.stripe_price_id:
        try:
            old_price = _call("retrieve price", client.v1.prices.retrieve, plan.stripe_price_id)
        except GatewayError as error:
            if error.kind != "not_found":
                raise
    if old_price is not None and _price_matches(old_price, plan, product_id):
        if not field(old_price, "active"):
            _call("reactivate price", client.v1.prices.update, old_price.id, {"active": True})
            changed = True
    else:
        params = {
            "product": product_id,
            "unit_amount": plan.amount,
            "currency": plan.currency.lower(),
            "nickname": plan.name[:100],
            "metadata": {"plan_id": str(plan.id)},
        }
        if plan.interval in ("month", "year"):
            params["recurring"] = {"interval": plan.interval, "interval_count": 1}
        price = _call(
            "create price",
            client.v1.prices.create,
            params,
            _opts(_key_for(f"plan-{plan.id}-price", params)),
        )
        # The same key within 24 h replays the first answer, though that price may be archived since.
        price = _call("retrieve price", client.v1.prices.retrieve, price.id)
        if not field(price, "active"):
            price = _call("reactivate price", client.v1.prices.update, price.id, {"active": True})
        if old_price is not None and field(old_price, "active") and old_price.id != price.id:
            _call("archive price", client.v1.prices.update, old_price.id, {"active": False})
        plan.stripe_price_id = str(price.id)
        changed = True
    if changed:
        from crm.extensions import db

        db.session.flush()
    return changed
