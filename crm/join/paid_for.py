"""What a Checkout Session's own line items pay for, checked before anything is fulfilled.

A session's metadata says what we asked for, but anyone who can make a session on the same
Stripe account can write any metadata: only the line items say what was paid. A session is
fulfilled only when its lines are our plan's price (or the inline donation and renewal lines we
make), their amounts are the ones the metadata claims, and they add up to the session's total.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from crm.billing.stripe_gateway import PaidLine
from crm.memberships.models import Plan

#: The `crm_line` product metadata on the inline lines we create.
DONATION_LINE = "donation"
RENEWAL_LINE = "renewal"


def donation_line_name() -> str:
    return f"Donation to {current_app.config['ORG_NAME']}"


def line_signature(kind: str, plan_id: int, unit_amount: int) -> str:
    """Our signature of an inline line's price: a renewal made at last week's price is still ours
    when the plan's price has changed since (the member paid what we asked), a forged one is not."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{kind}:{plan_id}:{unit_amount}".encode(), hashlib.sha256).hexdigest()[:32]


def renewal_line_name(plan: Plan) -> str:
    return f"{plan.name} membership renewal"


def _is_donation_line(line: PaidLine, currency: str, *, regular: bool = False) -> bool:
    """Our donation line: one-off, or (a regular gift's own session) monthly or yearly."""
    # Sessions made before the products carried `crm_line` are known by their line's name.
    ours = line.line_kind == DONATION_LINE or (
        not line.line_kind and line.description == donation_line_name()
    )
    return ours and (regular or not line.recurring) and line.currency == currency.lower() and line.amount > 0


def _is_plan_line(line: PaidLine, plan: Plan) -> bool:
    ours = bool(
        (plan.stripe_price_id and line.price_id == plan.stripe_price_id)
        or (plan.stripe_product_id and line.product_id == plan.stripe_product_id)
    )
    return ours and line.quantity == 1 and line.recurring == plan.recurring


def _is_renewal_line(line: PaidLine, plan: Plan) -> bool:
    ours = line.line_kind == RENEWAL_LINE or (
        not line.line_kind and line.description == renewal_line_name(plan)
    )
    return (
        ours
        and not line.recurring
        and line.quantity == 1
        and (
            line.unit_amount == plan.amount
            or hmac.compare_digest(line.signature, line_signature(RENEWAL_LINE, plan.id, line.unit_amount))
        )
        and line.currency == plan.currency.lower()
    )


def session_pays_for(
    lines: list[PaidLine], *, kind: str, plan: Plan | None, donation: int, amount_total: int
) -> bool:
    """True when the lines pay for exactly what the metadata names: `kind` "membership" (the
    plan's price plus any donation), "renewal" (one period of the plan) or "donation"."""
    if not lines or sum(line.amount for line in lines) != amount_total:
        return False
    currency = plan.currency if plan is not None else str(current_app.config["CURRENCY"])
    if kind == "renewal":
        return plan is not None and len(lines) == 1 and _is_renewal_line(lines[0], plan) and not donation
    rest = lines
    if kind == "membership":
        if plan is None:
            return False
        plan_lines = [line for line in lines if _is_plan_line(line, plan)]
        if len(plan_lines) != 1:
            return False
        rest = [line for line in lines if line is not plan_lines[0]]
    elif kind != "donation" or donation <= 0:
        return False
    if not all(_is_donation_line(line, currency, regular=kind == "donation") for line in rest):
        return False
    return sum(line.amount for line in rest) == donation
