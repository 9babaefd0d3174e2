"""What staff do to a contact. Each action is one function: it checks, changes rows, writes the
audit trail (who, what, before and after) and flushes; the route commits once.

Membership rules are not here: they live in crm/memberships/lifecycle.py, which these call.
Stripe is reached only through crm/billing/stripe_gateway.py, and always before anything is
written, so a Stripe error leaves nothing recorded.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from types import ModuleType
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from crm.audit.services import record
from crm.billing.models import Payment, Refund
from crm.campaigns import services as campaign_services
from crm.contacts import consent, tags
from crm.contacts.models import Contact, Note
from crm.extensions import db
from crm.memberships.models import CURRENT_STATUSES, Membership, Plan

CONTACT_FIELDS = (
    "title",
    "first_name",
    "last_name",
    "email",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "country",
    "phone",
    "preferred_language",
    "email_consent",
)
STALE_MESSAGE = "This record changed since you opened it. Your changes were not saved: review them and try again."


class StaffActionError(Exception):
    """A refusal with a message for the member of staff; nothing has been written."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else "That could not be done."


class StaleRecordError(StaffActionError):
    def __init__(self) -> None:
        super().__init__(STALE_MESSAGE)


def _module(name: str, what: str) -> ModuleType:
    """The modules other domains own, imported when used (they may not be installed yet)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        raise StaffActionError(f"{what} is not available yet.") from error


def _lifecycle() -> ModuleType:
    return _module("crm.memberships.lifecycle", "Changing memberships")


def _gateway() -> ModuleType:
    return _module("crm.billing.stripe_gateway", "Stripe")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def contact_snapshot(contact: Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in CONTACT_FIELDS}


def membership_snapshot(membership: Membership | None) -> dict[str, Any] | None:
    if membership is None:
        return None
    return {
        "id": membership.id,
        "plan_id": membership.plan_id,
        "status": membership.status,
        "paid_through": _iso(membership.paid_through),
        "auto_renew": membership.auto_renew,
        "complimentary": membership.complimentary,
    }


def current_membership(contact: Contact) -> Membership | None:
    return db.session.scalar(
        select(Membership)
        .where(Membership.contact_id == contact.id, Membership.status.in_(CURRENT_STATUSES))
        .order_by(Membership.id.desc())
        .limit(1)
    )


def _require_current(contact: Contact) -> Membership:
    membership = current_membership(contact)
    if membership is None:
        raise StaffActionError("This contact has no current membership.")
    return membership


# --- details and notes ---------------------------------------------------------------------


def update_contact_details(contact: Contact, data: dict[str, Any], *, version: int, actor: Any) -> None:
    """Save edited details, unless someone else saved the contact since the form was opened."""
    if contact.version != version:
        raise StaleRecordError()
    email = (data.get("email") or "").strip().lower()
    if email != contact.email and db.session.scalar(
        select(Contact.id).where(Contact.email == email, Contact.id != contact.id)
    ):
        raise StaffActionError("Another contact already has that email address: merge them instead.")
    if email != contact.email and contact.user is not None and contact.user.role == "admin" and (
        getattr(actor, "role", None) != "admin"
    ):
        raise StaffActionError("Only an admin can change an admin's sign-in email.")
    before = contact_snapshot(contact)
    for name in CONTACT_FIELDS:
        if name in data and name != "email_consent":
            value = data[name]
            if value is None:
                value = ""
            elif isinstance(value, str):
                value = value.strip()
            setattr(contact, name, value)
    contact.email = email
    contact.postcode = (contact.postcode or "").upper()
    contact.country = (contact.country or "GB").upper()
    if "email_consent" in data:
        consent.record_consent(contact, "email", "news", bool(data["email_consent"]), source="staff",
                               wording="Recorded by staff", by=actor)  # fmt: skip
    after = contact_snapshot(contact)
    changed = {k for k in after if after[k] != before[k]}
    if not changed:
        return
    try:
        db.session.flush()
    except StaleDataError as error:
        raise StaleRecordError() from error
    record(
        "member.update",
        target_type="contact",
        target_id=contact.id,
        contact_id=contact.id,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
        actor=actor,
    )


def add_note(contact: Contact, body: str, *, actor: Any) -> Note:
    note = Note(contact_id=contact.id, author_id=getattr(actor, "id", None), body=body.strip())
    db.session.add(note)
    db.session.flush()
    record(
        "member.note",
        target_type="note",
        target_id=note.id,
        contact_id=contact.id,
        after={"body": note.body[:500]},
        actor=actor,
    )
    return note


# --- memberships ---------------------------------------------------------------------------


def record_offline_payment(
    contact: Contact, plan: Plan, *, amount: int, method: str, paid_at: datetime, reference: str, actor: Any
) -> Payment:
    """A cheque, transfer or cash: the lifecycle starts or extends the membership."""
    if amount <= 0:
        raise StaffActionError("The amount must be more than £0.")
    if method not in ("cheque", "bank_transfer", "cash"):
        raise StaffActionError("Choose cheque, bank transfer or cash.")
    before = membership_snapshot(current_membership(contact))
    lifecycle = _lifecycle()
    payment = _lifecycle_call(
        lambda: lifecycle.record_offline_payment(
            contact, plan, amount=amount, method=method, paid_at=paid_at, reference=reference, actor=actor
        )
    )
    db.session.flush()
    record(
        "member.offline_payment",
        target_type="payment",
        target_id=payment.id,
        contact_id=contact.id,
        before={"membership": before},
        after={
            "payment": {"amount": amount, "method": method, "paid_at": _iso(paid_at), "reference": reference},
            "membership": membership_snapshot(current_membership(contact)),
        },
        actor=actor,
    )
    return payment


def _lifecycle_call(change: Any) -> Any:
    """The lifecycle refuses with ValueError (or AlreadyMember): show its message, write nothing."""
    lifecycle = _lifecycle()
    try:
        return change()
    except lifecycle.AlreadyMember as error:
        raise StaffActionError(
            f"This contact is already a member ({error.membership.status}): change or extend that membership."
        ) from error
    except ValueError as error:
        raise StaffActionError(str(error)) from error


def _membership_action(action: str, contact: Contact, change: Any, *, actor: Any, detail: str = "") -> None:
    """Run one lifecycle call and write its one audit row: the membership before and after it."""
    acted_on = current_membership(contact)
    before = membership_snapshot(acted_on)
    _lifecycle_call(change)
    db.session.flush()
    # An ended membership is no longer current: its after is still the row that was changed.
    after_membership = current_membership(contact) or acted_on
    record(
        action,
        target_type="membership",
        target_id=after_membership.id if after_membership else "",
        contact_id=contact.id,
        before=before,
        after=membership_snapshot(after_membership),
        detail=detail,
        actor=actor,
    )


def grant_complimentary(contact: Contact, plan: Plan, *, until: datetime | None, actor: Any) -> None:
    lifecycle = _lifecycle()
    _membership_action(
        "member.complimentary",
        contact,
        lambda: lifecycle.grant_complimentary(contact, plan, actor=actor, until=until),
        actor=actor,
        detail=f"plan {plan.name}",
    )


def change_plan(contact: Contact, plan: Plan, *, actor: Any) -> None:
    membership = _require_current(contact)
    if membership.plan_id == plan.id:
        raise StaffActionError("The membership is already on that plan.")
    lifecycle = _lifecycle()
    if membership.stripe_subscription_id:
        if not plan.stripe_price_id or not plan.recurring:
            raise StaffActionError("That plan has no Stripe price for a subscription: choose a recurring plan.")
        gateway = _gateway()
        try:
            gateway.change_subscription_price(
                membership.stripe_subscription_id,
                plan.stripe_price_id,
                idempotency_key=f"staff-plan-{membership.id}-{plan.stripe_price_id}",
            )
        except gateway.GatewayError as error:
            raise StaffActionError(f"Stripe did not change the plan: {error.user_message}") from error
    _membership_action(
        "member.change_plan",
        contact,
        lambda: lifecycle.change_plan(membership, plan, actor=actor),
        actor=actor,
        detail=f"to plan {plan.name}",
    )


def extend_membership(contact: Contact, *, until: datetime, actor: Any) -> None:
    membership = _require_current(contact)
    if membership.paid_through and until <= membership.paid_through:
        raise StaffActionError("Choose a date after the current paid-through date.")
    lifecycle = _lifecycle()
    _membership_action(
        "member.extend",
        contact,
        lambda: lifecycle.extend(membership, until=until, actor=actor),
        actor=actor,
    )


def cancel_membership(contact: Contact, *, at_period_end: bool, reason: str, actor: Any) -> None:
    """Cancel now or at period end; the Stripe subscription first, so a Stripe error changes nothing."""
    membership = _require_current(contact)
    lifecycle = _lifecycle()
    reason = reason or "cancelled by staff"
    if at_period_end and (not membership.auto_renew or membership.cancelled_at is not None):
        raise StaffActionError("This membership already ends at the end of its paid period.")
    if membership.stripe_subscription_id:
        gateway = _gateway()
        try:
            if at_period_end:
                gateway.set_cancel_at_period_end(
                    membership.stripe_subscription_id,
                    True,
                    idempotency_key=f"staff-cancel-end-{membership.id}-{membership.stripe_subscription_id}",
                )
            else:
                gateway.cancel_subscription_now(
                    membership.stripe_subscription_id,
                    idempotency_key=f"staff-cancel-now-{membership.id}-{membership.stripe_subscription_id}",
                )
        except gateway.GatewayError as error:
            raise StaffActionError(f"Stripe did not cancel the subscription: {error.user_message}") from error
    if at_period_end:
        change = lambda: lifecycle.set_auto_renew(membership, False, actor=actor, reason=reason)  # noqa: E731
        action = "member.cancel_at_period_end"
    else:
        change = lambda: lifecycle.cancel_now(membership, actor=actor, reason=reason)  # noqa: E731
        action = "member.cancel_now"
    _membership_action(action, contact, change, actor=actor, detail=reason)


def change_suspension(contact: Contact, *, suspended: bool, reason: str, actor: Any) -> None:
    """Suspend the current membership (members lose access at once) or lift the suspension."""
    membership = _require_current(contact)
    lifecycle = _lifecycle()
    if suspended:
        action, change, reason = "member.suspend", lifecycle.suspend, reason or "suspended by staff"
    else:
        action, change, reason = "member.unsuspend", lifecycle.unsuspend, reason or "suspension lifted by staff"
    _membership_action(
        action, contact, lambda: change(membership, actor=actor, reason=reason), actor=actor, detail=reason
    )


# --- refunds -------------------------------------------------------------------------------


def refund_payment(
    payment: Payment, *, amount: int | None, reason: str, cancel_membership_too: bool, actor: Any
) -> Refund:
    """Refund through Stripe, then record it once (the webhook matches on the Stripe refund id)."""
    if payment.status == "refunded" or (payment.amount_refunded >= payment.amount and payment.amount > 0):
        raise StaffActionError("This payment has already been refunded in full.")
    from crm.billing import refunds
    from crm.billing.donations import payment_intent_for

    payment_intent_id = payment_intent_for(payment)  # a donation given at join shares its charge
    if not payment_intent_id:
        raise StaffActionError(
            "This payment was not taken through Stripe (offline payment): refund it by cheque or bank transfer."
        )
    if payment.status not in ("paid", "partly_refunded"):
        raise StaffActionError("Only a paid payment can be refunded.")
    left = payment.amount - payment.amount_refunded
    amount = left if amount is None else amount
    if amount <= 0:
        raise StaffActionError("The refund must be more than £0.")
    if amount > left:
        from crm.core.money import format_money

        raise StaffActionError(f"You can refund at most {format_money(left, payment.currency)} on this payment.")
    before: dict[str, Any] = {"status": payment.status, "amount_refunded": payment.amount_refunded}
    gateway = _gateway()
    if cancel_membership_too and amount >= left:
        _stop_renewing_before_refund(payment, gateway)
    try:
        stripe_refund = gateway.create_refund(
            payment_intent_id=payment_intent_id,
            amount=amount,
            idempotency_key=f"staff-refund-{payment.id}-{payment.amount_refunded}-{amount}",
            metadata=refunds.staff_refund_metadata(payment, reason=reason, actor=actor),
        )
    except gateway.GatewayError as error:
        raise StaffActionError(f"Stripe did not make the refund: {error.user_message}") from error
    refund_id = _attr(stripe_refund, "id")
    refund = _record_refund_once(payment, refund_id, amount, reason, actor)
    refunds.keep_staff_story(refund, reason=reason, actor=actor)
    refunds.queue_refund_email(refund)
    after: dict[str, Any] = {"status": payment.status, "amount_refunded": payment.amount_refunded, "refund": amount}
    if cancel_membership_too and payment.status == "refunded" and payment.membership_id:
        membership = db.session.get(Membership, payment.membership_id)
        if membership is not None and membership.status in CURRENT_STATUSES:
            # Part of the same action, so the same audit row shows the membership before and after.
            before["membership"] = membership_snapshot(membership)
            _lifecycle_call(
                lambda: _lifecycle().cancel_now(membership, actor=actor, reason="payment refunded in full")
            )
            after["membership"] = membership_snapshot(membership)
    record(
        "payment.refund",
        target_type="payment",
        target_id=payment.id,
        contact_id=payment.contact_id,
        before=before,
        after=after,
        detail=reason,
        actor=actor,
    )
    return refund


def _stop_renewing_before_refund(payment: Payment, gateway: ModuleType) -> None:
    """A full refund that ends the membership must also stop Stripe charging again: cancel the
    subscription first, so a Stripe error leaves everything as it was."""
    membership = db.session.get(Membership, payment.membership_id) if payment.membership_id else None
    if membership is None or membership.status not in CURRENT_STATUSES or not membership.stripe_subscription_id:
        return
    try:
        gateway.cancel_subscription_now(
            membership.stripe_subscription_id,
            idempotency_key=f"staff-refund-cancel-{membership.id}-{membership.stripe_subscription_id}",
        )
    except gateway.GatewayError as error:
        raise StaffActionError(
            f"Stripe did not cancel the subscription, so nothing was refunded: {error.user_message}"
        ) from error


def _record_refund_once(payment: Payment, refund_id: str | None, amount: int, reason: str, actor: Any) -> Refund:
    """One Refund row per Stripe refund, even when the charge.refunded webhook records it first
    (it may commit between Stripe making the refund and this request saving it)."""
    existing = (
        db.session.scalar(select(Refund).where(Refund.stripe_refund_id == refund_id)) if refund_id else None
    )
    if existing is not None:
        db.session.refresh(payment)  # the webhook recorded it and updated the payment
    floor = payment.amount_refunded
    if existing is None:
        refund = Refund(
            payment_id=payment.id,
            amount=amount,
            stripe_refund_id=refund_id,
            reason=reason[:200],
            created_by_id=getattr(actor, "id", None),
        )
        try:
            with db.session.begin_nested():
                db.session.add(refund)
        except IntegrityError:
            existing = db.session.scalar(select(Refund).where(Refund.stripe_refund_id == refund_id))
            if existing is None:
                raise
            db.session.refresh(payment)
            floor = payment.amount_refunded  # the webhook's total already includes this refund
        else:
            existing = refund
            floor = payment.amount_refunded + amount
    # Never added to twice: the larger of what we know and the sum of recorded refunds.
    total = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(Refund.payment_id == payment.id)
    )
    payment.amount_refunded = min(payment.amount, max(floor, int(total or 0)))
    payment.status = "refunded" if payment.amount_refunded >= payment.amount else "partly_refunded"
    db.session.flush()
    return existing


def _attr(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        try:
            value = obj[name]
        except (KeyError, TypeError, IndexError):
            value = None
    return value


# --- accounts, merge, erasure --------------------------------------------------------------


def resend_welcome(contact: Contact, *, actor: Any) -> None:
    if contact.user is None:
        raise StaffActionError("This contact has no sign-in account to welcome.")
    accounts = _module("crm.accounts.services", "Welcome emails")
    accounts.send_welcome_email(contact.user, resend=True)
    record(
        "member.welcome_resent",
        target_type="user",
        target_id=contact.user.id,
        contact_id=contact.id,
        actor=actor,
    )


def find_contact_by_reference(reference: str) -> Contact | None:
    """A contact by id ("123") or membership number ("M000123")."""
    reference = reference.strip()
    if reference.isdigit():
        found = db.session.get(Contact, int(reference))
        if found is not None:
            return found
    return db.session.scalar(select(Contact).where(func.upper(Contact.member_number) == reference.upper()))


def _contact_foreign_keys() -> list[tuple[Any, Any]]:
    """Every (table, column) that points at contact.id, so a merge moves rows of any domain."""
    found = []
    for table in db.metadata.sorted_tables:
        if table.name == "contact":
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == "contact" and fk.column.name == "id":
                found.append((table, fk.parent))
    return found


def merge_contacts(kept: Contact, reference: str, *, actor: Any) -> dict[str, int]:
    """Move everything of the duplicate onto `kept`, then delete the duplicate. Returns rows moved."""
    other = find_contact_by_reference(reference)
    if other is None:
        raise StaffActionError("No contact has that id or membership number.")
    if other.id == kept.id:
        raise StaffActionError("A contact cannot be merged into itself.")
    if current_membership(kept) is not None and current_membership(other) is not None:
        raise StaffActionError("Both contacts have a current membership: end one of them before merging.")
    links = _contact_foreign_keys()
    for table, column in links:
        if column.unique:
            both = db.session.scalar(
                select(func.count()).select_from(table).where(column.in_((kept.id, other.id)))
            )
            if both and both > 1:
                raise StaffActionError(
                    "Both contacts have a sign-in account: disable one of them before merging."
                )
    before = {"kept": contact_snapshot(kept), "merged": {"id": other.id, **contact_snapshot(other)}}
    carried = {
        "member_number": other.member_number,
        "stripe_customer_id": other.stripe_customer_id,
    }
    fill = {n: getattr(other, n) for n in ("title", "address_line1", "address_line2", "town", "postcode", "phone")}
    other_id, other_email = other.id, other.email
    # Unique columns move only once the duplicate has let go of them.
    other.member_number = None
    other.stripe_customer_id = None
    db.session.flush()
    for name, value in carried.items():
        if value and not getattr(kept, name):
            setattr(kept, name, value)
    for name, value in fill.items():
        if value and not getattr(kept, name):
            setattr(kept, name, value)
    consent.carry_over(kept, other, by=actor)
    tags.carry_over(kept, other)
    campaign_services.release_duplicate(kept.id, other.id)
    db.session.flush()
    moved: dict[str, int] = {}
    for table, column in links:
        result = db.session.execute(
            update(table).where(column == other_id).values({column.name: kept.id}),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount:
            moved[table.name] = moved.get(table.name, 0) + result.rowcount
    db.session.expunge(other)
    db.session.execute(delete(Contact).where(Contact.id == other_id), execution_options={"synchronize_session": False})
    db.session.expire_all()
    record(
        "member.merge",
        target_type="contact",
        target_id=kept.id,
        contact_id=kept.id,
        before=before,
        after={"kept": contact_snapshot(kept), "moved": moved},
        detail=f"merged contact {other_id} ({other_email}) into {kept.id}",
        actor=actor,
    )
    db.session.flush()
    return moved


def confirm_erasure(contact: Contact, *, actor: Any) -> None:
    if contact.erased_at is not None:
        raise StaffActionError("This contact has already been erased.")
    if contact.erasure_requested_at is None:
        raise StaffActionError("This contact has not asked to be erased.")
    erasure = _module("crm.members_area.erasure", "Erasure")
    contact_id = contact.id
    record("member.erasure_confirmed", target_type="contact", target_id=contact_id, contact_id=contact_id, actor=actor)
    try:
        erasure.erase_contact(contact, actor=actor)
    except erasure.ErasureError as error:
        raise StaffActionError(error.message) from error
    db.session.flush()
