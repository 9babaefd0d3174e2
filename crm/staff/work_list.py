"""The staff work list: what needs someone's attention today (the dashboard's first card)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from crm.audit.models import AuditEvent
from crm.billing.models import Payment, PaymentKind, PaymentStatus
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.features import gift_aid_enabled
from crm.email.models import OutboxMessage
from crm.events.models import Booking, BookingStatus, Event
from crm.extensions import db
from crm.memberships.models import ACCESS_STATUSES, Membership, MembershipStatus, Plan

WORK_LIST_SIZE = 10


@dataclass
class WorkItem:
    key: str
    title: str
    hint: str
    count: int
    rows: list[Any]


def _listed(stmt: Select[Any], order: Any) -> tuple[int, list[Any]]:
    """The count and the first few rows of a work-list query (two queries, whatever the size)."""
    count = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db.session.execute(stmt.order_by(order).limit(WORK_LIST_SIZE)).all()) if count else []
    return count, rows


def _ended_at() -> Any:
    """When a membership stopped giving access (lifecycle sets ended_at; older rows fall back)."""
    return func.coalesce(Membership.ended_at, Membership.grace_until, Membership.paid_through)


def _has_membership_now(ended: Any) -> Any:
    """The contact of the `ended` membership has joined again (or is about to): nothing to chase."""
    newer = aliased(Membership)
    return (
        select(newer.id)
        .where(
            newer.contact_id == ended.contact_id,
            newer.status.in_(
                (
                    MembershipStatus.ACTIVE,
                    MembershipStatus.GRACE,
                    MembershipStatus.PENDING,
                    MembershipStatus.DIRECT_DEBIT_PENDING,
                    MembershipStatus.SUSPENDED,
                )
            ),
        )
        .exists()
    )


def work_list(now: datetime) -> list[WorkItem]:
    who = select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.member_number)
    items = []

    stmt = (
        who.add_columns(Plan.name, Membership.paid_through, Membership.auto_renew)
        .join(Membership, Membership.contact_id == Contact.id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(
            Membership.status == MembershipStatus.ACTIVE,
            Membership.paid_through.between(now, now + timedelta(days=30)),
        )
    )
    items.append(
        WorkItem(
            "renewals",
            "Renewals due in the next 30 days",
            "Active members whose paid-through date comes soon.",
            *_listed(stmt, Membership.paid_through),
        )
    )

    # A failed invoice or collection is a `payment.failed` audit event
    # (crm.billing.services.record_failed_payment): a renewal that failed at once has no Payment
    # row; a Direct Debit returned after it looked paid keeps its row, marked failed.
    failing = or_(
        Membership.status == MembershipStatus.GRACE,
        Contact.id.in_(
            select(AuditEvent.contact_id).where(
                AuditEvent.action == "payment.failed", AuditEvent.at >= now - timedelta(days=30)
            )
        ),
    )
    stmt = (
        who.add_columns(Plan.name, Membership.status, Membership.grace_until)
        .join(
            Membership,
            and_(
                Membership.contact_id == Contact.id,
                Membership.status.in_((MembershipStatus.ACTIVE, MembershipStatus.GRACE)),
            ),
        )
        .join(Plan, Plan.id == Membership.plan_id)
        .where(failing)
    )
    items.append(
        WorkItem(
            "failing",
            "Payments failing",
            "In grace, or a payment failed in the last 30 days.",
            *_listed(stmt, Membership.grace_until.asc().nulls_last()),
        )
    )

    # Warned by the daily run that their card runs out before the next charge (crm/billing/dunning.py).
    stmt = (
        who.add_columns(Plan.name, Membership.paid_through)
        .join(Membership, and_(Membership.contact_id == Contact.id, Membership.status == MembershipStatus.ACTIVE))
        .join(Plan, Plan.id == Membership.plan_id)
        .where(Contact.id.in_(
            select(OutboxMessage.contact_id).where(
                OutboxMessage.kind == "card_expiring", OutboxMessage.created_at >= now - timedelta(days=45)
            )
        ), Membership.paid_through >= now)
    )  # fmt: skip
    items.append(WorkItem("card_expiring", "Cards expiring before the next charge",
                          "Members told to update their card; the charge date follows.",
                          *_listed(stmt, Membership.paid_through)))  # fmt: skip

    stmt = (
        who.add_columns(Payment.amount, Payment.disputed_at, Payment.dispute_status)
        .join(Payment, Payment.contact_id == Contact.id)
        .where(
            Payment.disputed_at.is_not(None),
            func.coalesce(Payment.dispute_status, "").not_in(("won", "lost")),
        )
    )
    items.append(
        WorkItem(
            "disputes",
            "Disputes",
            "Card payments the bank is disputing.",
            *_listed(stmt, Payment.disputed_at.desc()),
        )
    )

    # A first Direct Debit the bank returned after it looked paid leaves no membership
    # (crm/memberships/lifecycle/returned.py): the money never came, and the supporter may not
    # know why. Listed until they join again, for 30 days.
    part = aliased(Payment)
    donation = select(func.coalesce(func.sum(part.amount), 0)).where(part.part_of_id == Payment.id)
    stmt = (
        who.add_columns((Payment.amount + donation.scalar_subquery()).label("total"), Payment.currency,
                        Payment.failure_message, Membership.ended_at)
        .join(Membership, Membership.contact_id == Contact.id)
        .join(Payment, and_(Payment.membership_id == Membership.id, Payment.kind == PaymentKind.MEMBERSHIP,
                            Payment.status == PaymentStatus.FAILED))
        .where(Membership.status == MembershipStatus.EXPIRED, Membership.ended_at >= now - timedelta(days=30),
               ~_has_membership_now(Membership))
    )  # fmt: skip
    items.append(WorkItem("returned_first", "First Direct Debits returned",
                          "Collected, then returned by the bank: not a member. Tell them why.",
                          *_listed(stmt, Membership.ended_at.desc())))  # fmt: skip

    stmt = (
        who.add_columns(Plan.name, _ended_at().label("ended"))
        .join(Membership, Membership.contact_id == Contact.id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(Membership.status == MembershipStatus.LAPSED, _ended_at() >= now - timedelta(days=90))
        .where(~_has_membership_now(Membership))
    )
    items.append(
        WorkItem("lapsed", "Lapsed in the last 90 days", "To win back.", *_listed(stmt, _ended_at().desc()))
    )

    stmt = who.add_columns(Contact.erasure_requested_at).where(
        Contact.erasure_requested_at.is_not(None), Contact.erased_at.is_(None)
    )
    items.append(
        WorkItem(
            "erasure",
            "Erasure requests",
            "Confirm on the contact's page.",
            *_listed(stmt, Contact.erasure_requested_at),
        )
    )

    # A booking paid for and then cancelled (or paid after its held place was released) keeps
    # the money; staff refund it by hand from the payment.
    stmt = (
        who.add_columns(Payment.id.label("payment_id"), Payment.amount, Event.title)
        .join(Payment, Payment.contact_id == Contact.id)
        .join(Booking, Booking.stripe_checkout_session_id == Payment.stripe_checkout_session_id)
        .join(Event, Event.id == Booking.event_id)
        .where(
            Payment.kind == PaymentKind.EVENT,
            Payment.status.in_((PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED)),
            Payment.amount_refunded < Payment.amount,
            Booking.status == BookingStatus.CANCELLED,
        )
    )
    items.append(
        WorkItem(
            "event_refunds",
            "Event bookings to refund",
            "Paid for, then cancelled or released.",
            *_listed(stmt, Payment.paid_at),
        )
    )

    if not gift_aid_enabled():
        return items
    declared = (
        select(GiftAidDeclaration.id)
        .where(GiftAidDeclaration.contact_id == Contact.id, GiftAidDeclaration.cancelled_at.is_(None))
        .correlate(Contact)
        .exists()
    )
    stmt = (
        who.add_columns(Plan.name)
        .join(Membership, Membership.contact_id == Contact.id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(Membership.status.in_(ACCESS_STATUSES), Plan.gift_aid_eligible.is_(True), ~declared)
    )
    items.append(
        WorkItem(
            "gift_aid",
            "Could declare Gift Aid",
            "Members on an eligible plan with no declaration.",
            *_listed(stmt, Contact.last_name),
        )
    )
    return items
