"""'Download my data': everything held about one contact, and nothing about anyone else.

`contact_data(contact)` is also what a staff subject-access export should hand over.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

from flask import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.audit.models import AuditEvent
from crm.billing.models import Payment, payment_method_label
from crm.contacts.models import Consent, Contact, GiftAidDeclaration, Note
from crm.contacts.services import NAME_AND_ADDRESS_FIELDS
from crm.core.csv_export import FORMULA_STARTS
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership

CONTACT_FIELDS = (
    "id",
    "email",
    *NAME_AND_ADDRESS_FIELDS,
    "email_consent",
    "email_consent_at",
    "email_consent_source",
    "source",
    "member_number",
    "erasure_requested_at",
    "created_at",
    "updated_at",
)


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _who(actor_user_id: int | None, label: str, own_user_id: int | None) -> str:
    """Another person's identity is not this member's data: staff are just 'staff'."""
    if actor_user_id is not None and actor_user_id == own_user_id:
        return "you"
    if actor_user_id is None and label in ("system", "stripe", ""):
        return label or "system"
    return "staff" if actor_user_id is not None else "system"


def contact_data(contact: Contact) -> dict[str, Any]:
    """Everything held about `contact`, every query scoped to its id."""
    cid = contact.id
    own_user_id = contact.user.id if contact.user is not None else None
    memberships = db.session.scalars(
        select(Membership)
        .where(Membership.contact_id == cid)
        .options(selectinload(Membership.plan), selectinload(Membership.events))
        .order_by(Membership.id)
    ).all()
    payments = db.session.scalars(
        select(Payment)
        .where(Payment.contact_id == cid)
        .options(selectinload(Payment.refunds))
        .order_by(Payment.id)
    ).all()
    return {
        "contact": {name: _value(getattr(contact, name)) for name in CONTACT_FIELDS},
        "account": _account(contact),
        "consents": [
            {
                "kind": c.kind,
                "granted": c.granted,
                "wording": c.wording,
                "language": c.language,
                "source": c.source,
                "confirmed_at": _value(c.confirmed_at),
                "at": _value(c.created_at),
            }
            for c in db.session.scalars(select(Consent).where(Consent.contact_id == cid).order_by(Consent.id))
        ],
        "memberships": [_membership(m, own_user_id) for m in memberships],
        "payments": [_payment(p) for p in payments],
        "gift_aid_declarations": [
            {
                "id": d.id,
                "declared_at": _value(d.declared_at),
                "valid_from": _value(d.valid_from),
                "wording": d.wording,
                "language": d.language,
                "source": d.source,
                "house": d.house,
                "postcode": d.postcode,
                "cancelled_at": _value(d.cancelled_at),
            }
            for d in db.session.scalars(
                select(GiftAidDeclaration)
                .where(GiftAidDeclaration.contact_id == cid)
                .order_by(GiftAidDeclaration.id)
            )
        ],
        "emails_sent": [
            {
                "kind": o.kind,
                "subject": o.subject,
                "to": o.to_email,
                "status": o.status,
                "at": _value(o.created_at),
            }
            for o in db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.contact_id == cid).order_by(OutboxMessage.id)
            )
        ],
        # Staff notes about the person are their personal data too (a subject access request
        # covers them); who wrote each stays out, as that is the staff member's own data.
        "staff_notes": [
            {"note": n.body, "at": _value(n.created_at)}
            for n in db.session.scalars(select(Note).where(Note.contact_id == cid).order_by(Note.id))
        ],
        "audit_events": [
            {"action": a.action, "at": _value(a.at), "by": _who(a.actor_user_id, a.actor_label, own_user_id)}
            for a in db.session.scalars(
                select(AuditEvent).where(AuditEvent.contact_id == cid).order_by(AuditEvent.id)
            )
        ],
    }


def _account(contact: Contact) -> dict[str, Any] | None:
    user = contact.user
    if user is None:
        return None
    return {
        "role": user.role,
        "two_factor_enabled": user.totp_enabled,
        "last_login_at": _value(user.last_login_at),
        "created_at": _value(user.created_at),
    }


def _membership(m: Membership, own_user_id: int | None) -> dict[str, Any]:
    return {
        "id": m.id,
        "plan": m.plan.name,
        "status": m.status,
        "joined_at": _value(m.joined_at),
        "current_period_start": _value(m.current_period_start),
        "paid_through": _value(m.paid_through),
        "grace_until": _value(m.grace_until),
        "auto_renew": m.auto_renew,
        "complimentary": m.complimentary,
        "cancelled_at": _value(m.cancelled_at),
        "ended_at": _value(m.ended_at),
        "created_at": _value(m.created_at),
        "events": [
            {
                "from": e.from_status,
                "to": e.to_status,
                "reason": e.reason,
                "by": _who(e.actor_user_id, "" if e.actor_user_id is None else "staff", own_user_id),
                "amount": e.amount,
                "paid_through": _value(e.paid_through),
                "at": _value(e.created_at),
            }
            for e in m.events
        ],
    }


def _payment(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "amount": p.amount,
        "currency": p.currency,
        "status": p.status,
        "method": payment_method_label(p.method),
        "reference": p.reference,
        "paid_at": _value(p.paid_at),
        "amount_refunded": p.amount_refunded,
        "gift_aid_eligible": p.gift_aid_eligible,
        "gift_aid_claimed": p.gift_aid_claim_id is not None,
        "refunds": [{"amount": r.amount, "reason": r.reason, "at": _value(r.created_at)} for r in p.refunds],
    }


def contact_data_json(contact: Contact) -> str:
    return json.dumps(contact_data(contact), indent=2, ensure_ascii=False, sort_keys=False)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _rows(section: str, item: Any, record_id: str = "") -> list[list[str]]:
    """Flatten a section into (section, record, field, value) rows; nested lists become sub-sections."""
    rows: list[list[str]] = []
    if isinstance(item, list):
        for index, element in enumerate(item, start=1):
            rows.extend(_rows(section, element, f"{record_id}{'.' if record_id else ''}{index}"))
        return rows
    if isinstance(item, dict):
        for field, value in item.items():
            if isinstance(value, list):
                rows.extend(_rows(f"{section}.{field}", value, record_id))
            else:
                rows.append([section, record_id, field, _cell(value)])
        return rows
    if item is not None:
        rows.append([section, record_id, "", _cell(item)])
    return rows


def contact_data_csv(contact: Contact) -> str:
    """The same data as the JSON, one value per row (RFC 4180), safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["section", "record", "field", "value"])
    for section, content in contact_data(contact).items():
        writer.writerows(_rows(section, content))
    return buffer.getvalue()


def data_download(contact: Contact, extension: str, filename: str) -> Response:
    """Everything held about `contact` as a file to save (JSON or CSV), never cached: the member's
    own download and staff answering a subject access request both send this."""
    render, mimetype = {
        "json": (contact_data_json, "application/json"),
        "csv": (contact_data_csv, "text/csv"),
    }[extension]
    response = Response(render(contact), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
