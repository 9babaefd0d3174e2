"""What staff do to a contact. Each action is one function: it checks, changes rows, writes the
audit trail (who, what, before and after) and flushes; the route commits once.

Membership rules are not here: they live in crm/memberships/lifecycle/, which these call.
Stripe is reached only through crm/billing/stripe_gateway/, and always before anything is
written, so a Stripe error leaves nothing recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm.exc import StaleDataError

from crm.audit.services import record
from crm.campaigns import services as campaign_services
from crm.contacts import consent, tags
from crm.contacts.models import Contact, Note
from crm.contacts.services import IDENTIFYING_FIELDS, PERSONAL_FIELDS, email_key
from crm.core.database import affected_rows
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import CURRENT_STATUSES, Membership

CONTACT_FIELDS = ("email", *PERSONAL_FIELDS, "email_consent")
STALE_MESSAGE = (
    "This record changed since you opened it. Your changes were not saved: review them and try again."
)


class StaffActionError(Exception):
    """A refusal with a message for the member of staff; nothing has been written."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else "That could not be done."


class StaleRecordError(StaffActionError):
    def __init__(self) -> None:
        super().__init__(STALE_MESSAGE)


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
    refuse_joint_follower(membership)
    return membership


def refuse_joint_follower(membership: Membership | None) -> None:
    """The second adult's membership follows the paying one (memberships/lifecycle/joint.py)."""
    if membership is not None and membership.joint_primary is not None:
        payer = membership.joint_primary.contact.display_name
        raise StaffActionError(
            f"This is a joint membership paid by {payer}: it follows theirs, so change it on their page."
        )


# --- details and notes ---------------------------------------------------------------------


def update_contact_details(contact: Contact, data: dict[str, Any], *, version: int, actor: Any) -> None:
    """Save edited details, unless someone else saved the contact since the form was opened."""
    if contact.version != version:
        raise StaleRecordError()
    email = email_key(data.get("email"))
    if email != contact.email and db.session.scalar(
        select(Contact.id).where(Contact.email == email, Contact.id != contact.id)
    ):
        raise StaffActionError("Another contact already has that email address: merge them instead.")
    if (
        email != contact.email
        and contact.user is not None
        and contact.user.role == "admin"
        and (getattr(actor, "role", None) != "admin")
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


# --- accounts, merge, erasure --------------------------------------------------------------


def resend_welcome(contact: Contact, *, actor: Any) -> None:
    if contact.user is None:
        raise StaffActionError("This contact has no sign-in account to welcome.")
    from crm.accounts import services as accounts

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
    # Any other joint link (the duplicate pays for a second adult, or is one) moves to `kept`
    # with every other row that names the duplicate; between these two it would join a person
    # to themself.
    if lifecycle.joint_partners(kept.id, other.id):
        raise StaffActionError(
            "These two are the two adults of one joint membership: merged, one person would be "
            "their own joint partner. If they really are one person, cancel the joint membership first."
        )
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
    # The duplicate's name, address and phone fill only what the kept record leaves blank.
    fill = {name: getattr(other, name) for name in IDENTIFYING_FIELDS}
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
        if count := affected_rows(result):
            moved[table.name] = moved.get(table.name, 0) + count
    lifecycle.refresh_membership_status(contact_ids=[kept.id])  # their memberships may be the duplicate's now
    db.session.expunge(other)
    db.session.execute(
        delete(Contact).where(Contact.id == other_id), execution_options={"synchronize_session": False}
    )
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
    from crm.members_area import erasure

    contact_id = contact.id
    record(
        "member.erasure_confirmed",
        target_type="contact",
        target_id=contact_id,
        contact_id=contact_id,
        actor=actor,
    )
    try:
        erasure.erase_contact(contact, actor=actor)
    except erasure.ErasureError as error:
        raise StaffActionError(error.message) from error
    db.session.flush()
