"""Stripe reconciliation: compare Stripe's subscriptions, invoices and refunds with our rows.

Reports every difference: a paid invoice with no payment row, a subscription whose status differs
from its membership, a refund we did not record. With `fix`, each is repaired through the same
handler the webhook uses (given a synthetic event, id "reconcile:<object id>"), each in its own
savepoint so one failure does not stop the others. Dry run by default. Flushes; the caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from crm.billing import refunds
from crm.billing import stripe_gateway as gateway
from crm.billing.models import Refund
from crm.billing.services import find_payment_for_charge, find_stripe_payment
from crm.billing.subscriptions import subscription_is_ours
from crm.core.money import format_money
from crm.core.text import counted
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership, MembershipStatus

log = logging.getLogger("crm.billing.reconcile")

#: Stripe subscription status -> the membership statuses that agree with it.
AGREEING_STATUSES: dict[str, frozenset[str]] = {
    "active": frozenset({MembershipStatus.ACTIVE}),
    "trialing": frozenset({MembershipStatus.ACTIVE}),
    "past_due": frozenset({MembershipStatus.GRACE}),
    "unpaid": frozenset({MembershipStatus.LAPSED, MembershipStatus.CANCELLED}),
    "canceled": frozenset({MembershipStatus.LAPSED, MembershipStatus.CANCELLED, MembershipStatus.EXPIRED}),
    "incomplete": frozenset({MembershipStatus.PENDING, MembershipStatus.EXPIRED}),
    "incomplete_expired": frozenset(
        {MembershipStatus.EXPIRED, MembershipStatus.LAPSED, MembershipStatus.CANCELLED}
    ),
}


@dataclass
class Difference:
    kind: str  #: missing_payment, status_differs, missing_refund, unknown_subscription, ...
    stripe_id: str
    detail: str
    #: None: not attempted (dry run or not fixable); True: repaired; False: the repair failed.
    fixed: bool | None = None
    note: str = ""

    def line(self) -> str:
        state = {None: "", True: " [fixed]", False: " [NOT fixed]"}[self.fixed]
        return f"- {self.kind} {self.stripe_id}: {self.detail}{state}{f' ({self.note})' if self.note else ''}"


@dataclass
class ReconciliationReport:
    since: datetime
    fix: bool
    subscriptions: int = 0
    invoices: int = 0
    refunds: int = 0
    differences: list[Difference] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Compared {self.subscriptions} subscriptions, {self.invoices} invoices and "
            f"{self.refunds} refunds created since {self.since:%Y-%m-%d}."
        ]
        out += [d.line() for d in self.differences]
        if not self.differences:
            out.append("No differences: our records match Stripe.")
        elif self.fix:
            fixed = sum(1 for d in self.differences if d.fixed)
            out.append(f"{counted(len(self.differences), 'difference')}, {fixed} fixed.")
        else:
            out.append(
                f"{counted(len(self.differences), 'difference')}. Dry run: nothing changed (use --fix to repair)."
            )
        return out


def reconcile(since: datetime, *, fix: bool = False) -> ReconciliationReport:
    """Compare everything Stripe created since `since` with our rows; repair with `fix`."""
    from crm.billing import webhook

    created_gte = int(since.timestamp())
    report = ReconciliationReport(since=since, fix=fix)
    subscriptions = list(gateway.list_subscriptions(created_gte))
    invoices = list(gateway.list_invoices(created_gte))
    stripe_refunds = list(gateway.list_refunds(created_gte))
    report.subscriptions, report.invoices = len(subscriptions), len(invoices)
    report.refunds = len(stripe_refunds)

    # Invoices first: a repaired payment can settle a status difference and anchor a refund.
    for invoice in invoices:
        _check_invoice(invoice, report, webhook)
    for sub in subscriptions:
        _check_subscription(sub, report, webhook)
    for refund in stripe_refunds:
        _check_refund(refund, report, webhook)
    return report


def _synthetic_event(event_type: str, object_id: str, **facts: Any) -> gateway.StripeEvent:
    return gateway.StripeEvent(
        id=f"reconcile:{object_id}",
        type=event_type,
        created=int(utcnow().timestamp()),
        object_id=object_id,
        **facts,
    )


def _repair(
    difference: Difference, handler: Callable[[gateway.StripeEvent], str], event: gateway.StripeEvent
) -> None:
    try:
        with db.session.begin_nested():
            result = handler(event)
    except Exception as error:  # noqa: BLE001  (reported; the other repairs go ahead)
        log.exception("reconciliation repair of %s failed", difference.stripe_id)
        difference.fixed, difference.note = False, f"{type(error).__name__}: {error}"
        return
    difference.fixed = result not in ("ignored", "stale")
    difference.note = f"handler said {result}"


def _check_invoice(invoice: gateway.InvoiceFacts, report: ReconciliationReport, webhook: Any) -> None:
    if not invoice.paid or not invoice.amount_paid:
        return
    sub_id = invoice.subscription_id
    if not sub_id:
        return  # one-off payments are recorded from their checkout session
    invoice_id = invoice.id
    if find_stripe_payment(invoice_id=invoice_id, payment_intent_id=None) is not None:
        return
    ours = db.session.scalar(select(Membership.id).where(Membership.stripe_subscription_id == sub_id))
    if ours is None:
        if not subscription_is_ours(gateway.subscription(sub_id)):
            return  # another product on the same Stripe account
    amount = format_money(invoice.amount_paid, invoice.currency)
    difference = Difference(
        "missing_payment", invoice_id, f"paid invoice ({amount}, subscription {sub_id}) has no payment row"
    )
    report.differences.append(difference)
    if report.fix:
        _repair(
            difference,
            webhook.handle_invoice_paid,
            _synthetic_event("invoice.paid", invoice_id, invoice=invoice),
        )


def _membership_status(sub_id: str, metadata: dict[str, str]) -> tuple[int | None, str | None]:
    row = db.session.execute(
        select(Membership.id, Membership.status).where(Membership.stripe_subscription_id == sub_id)
    ).first()
    if row is None:
        membership_id = metadata.get("membership_id")
        if membership_id and membership_id.isdigit():
            row = db.session.execute(
                select(Membership.id, Membership.status).where(Membership.id == int(membership_id))
            ).first()
    return (row.id, row.status) if row is not None else (None, None)


def _check_subscription(sub: gateway.SubscriptionFacts, report: ReconciliationReport, webhook: Any) -> None:
    if not subscription_is_ours(sub):
        return
    sub_id, stripe_status = sub.id, sub.status
    membership_id, local = _membership_status(sub_id, sub.metadata)
    if membership_id is None:
        report.differences.append(
            Difference(
                "unknown_subscription", sub_id, f"Stripe has it ({stripe_status}); we have no membership"
            )
        )
        return
    agreeing = AGREEING_STATUSES.get(stripe_status)
    if agreeing is None or local in agreeing or local == MembershipStatus.SUSPENDED:
        return
    difference = Difference(
        "status_differs", sub_id, f"Stripe says {stripe_status}, membership {membership_id} is {local}"
    )
    report.differences.append(difference)
    if report.fix:
        _repair(
            difference,
            webhook.handle_customer_subscription_updated,
            _synthetic_event("customer.subscription.updated", sub_id, subscription=sub),
        )
        now_local = db.session.scalar(select(Membership.status).where(Membership.id == membership_id))
        if difference.fixed and now_local not in agreeing:
            difference.fixed, difference.note = (
                False,
                f"still {now_local} after the repair: staff should look",
            )


def _check_refund(refund: gateway.RefundFacts, report: ReconciliationReport, webhook: Any) -> None:
    if not refund.settling:
        return
    if db.session.scalar(select(Refund.id).where(Refund.stripe_refund_id == refund.id)) is not None:
        return
    payment = find_payment_for_charge(refund.charge_id, refund.payment_intent_id)
    if payment is None:
        return  # a charge that is not one of our payments (or whose payment is itself missing above)
    difference = Difference(
        "missing_refund",
        refund.id,
        f"refund of {format_money(refund.amount, refund.currency)} on payment {payment.id} not recorded",
    )
    report.differences.append(difference)
    if report.fix and refund.charge_id:

        def repair_refund(event: gateway.StripeEvent) -> str:
            result = str(webhook.handle_charge_refunded(event))
            # The charge's refunded total is a floor; the refund itself is recorded as the
            # webhook and the staff action record theirs.
            refunds.record_refund(payment, refund)
            return result

        _repair(difference, repair_refund, _synthetic_event("charge.refunded", refund.charge_id))


def run_reconciliation(since_iso: str, fix: bool = False) -> list[str]:
    """Background job: reconcile since YYYY-MM-DD, commit the repairs, return the report lines."""
    from datetime import UTC

    since = datetime.strptime(since_iso, "%Y-%m-%d").replace(tzinfo=UTC)
    report = reconcile(since, fix=fix)
    db.session.commit()
    for line in report.lines():
        log.info("reconcile: %s", line)
    return report.lines()
