"""The audience filter: JSON from the builder form, checked against an allow-list, made into a query.

Never raw SQL from input: each allowed key maps to one SQLAlchemy condition built here. Postcode
areas, the membership status now and the email news consent are indexed columns of contact
(`ix_contact_audience`: `postcode_area` computed by the database, `membership_status` kept by the
lifecycle, `email_consent` by the consent module), where a count starts; every other condition is a correlated EXISTS (or one scalar probe) on an indexed
table (membership, payment, contact_consent, contact_tag, gift_aid_declaration), answered by an
index lookup for each contact left, so a count stays quick at 100,000 contacts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true

from crm.billing.models import Payment, PaymentKind, PaymentStatus
from crm.contacts import sources as contact_sources
from crm.contacts.consent import CHANNELS, PURPOSES
from crm.contacts.models import Contact, ContactConsent, ContactTag, GiftAidDeclaration, Suppression
from crm.memberships.models import STATUSES, Membership

#: Membership status "none": people with no membership at all (subscribers, donors, imported).
MEMBERSHIP_CHOICES = ("none", *STATUSES)
DATE_KEYS = ("joined", "lapsed", "paid_through", "donated")
#: Every key a stored filter may have, and the kind of value it takes.
ALLOWED: dict[str, str] = {
    "status": "list:status",
    "plan_ids": "list:int",
    **{f"{k}_{end}": "date" for k in DATE_KEYS for end in ("from", "to")},
    "donated": "choice:ever,period",
    "donated_min": "int",
    "gift_aid": "choice:yes,no",
    "consent": "list:consent",
    "tag_ids": "list:int",
    "postcode_areas": "list:area",
    "sources": "list:source",
    #: Hook for issue "languages": a contact column `preferred_language` (ISO 639-1) will be
    #: filtered here once it exists; stored filters may carry it already.
    "languages": "list:language",
}
_AREA = re.compile(r"^[A-Z]{1,2}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class FilterError(ValueError):
    """A filter that is not one the builder makes."""


def _date(value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise FilterError(f"not a date: {str(value)[:20]!r}") from None


def _item(kind: str, value: Any) -> Any:
    if kind == "int":
        if isinstance(value, bool) or not str(value).isdigit() or len(str(value)) > 12:
            raise FilterError("not a whole number")
        return int(value)
    if kind == "status" and value in MEMBERSHIP_CHOICES:
        return value
    if kind == "consent" and isinstance(value, str) and value.count(":") == 1:
        channel, purpose = value.split(":")
        if channel in CHANNELS and purpose in PURPOSES:
            return value
    if kind == "area" and isinstance(value, str) and _AREA.match(value.strip().upper()):
        return value.strip().upper()
    if kind == "source" and isinstance(value, str) and value in contact_sources.CODES:
        return value
    if kind == "language" and isinstance(value, str) and _LANGUAGE.match(value):
        return value
    raise FilterError(f"{str(value)[:20]!r} is not allowed here")


def clean(raw: Any) -> dict[str, Any]:
    """The filter with only allowed keys and values; raises FilterError on anything else."""
    if not isinstance(raw, dict):
        raise FilterError("a filter is a set of named conditions")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = ALLOWED.get(key)
        if kind is None:
            raise FilterError(f"unknown condition {str(key)[:30]!r}")
        if value in (None, "", []):
            continue
        if kind.startswith("list:"):
            if not isinstance(value, list) or len(value) > 200:
                raise FilterError(f"{key} is a list")
            out[key] = sorted({_item(kind[5:], v) for v in value})
        elif kind == "date":
            out[key] = _date(value)
        elif kind == "int":
            out[key] = _item("int", value)
        else:
            if value not in kind[7:].split(","):
                raise FilterError(f"{key} cannot be {str(value)[:20]!r}")
            out[key] = value
    return out


def _start(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)


def _between(column: Any, f: dict[str, Any], key: str) -> list[ColumnElement[bool]]:
    parts = []
    if f.get(f"{key}_from"):
        parts.append(column >= _start(f[f"{key}_from"]))
    if f.get(f"{key}_to"):
        parts.append(column < _start(f[f"{key}_to"]) + timedelta(days=1))
    return parts


def _membership_condition(f: dict[str, Any]) -> ColumnElement[bool] | None:
    """Status is the contact's status now (`Contact.membership_status`, kept by the lifecycle);
    plan and dates are any of their memberships, so "lapsed, on the Joint plan" still works."""
    chosen: list[str] = f.get("status", [])
    parts: list[ColumnElement[bool]] = []
    if f.get("plan_ids"):
        parts.append(Membership.plan_id.in_(f["plan_ids"]))
    parts += _between(Membership.joined_at, f, "joined")
    parts += _between(Membership.ended_at, f, "lapsed")
    parts += _between(Membership.paid_through, f, "paid_through")
    others = [s for s in chosen if s != "none"]
    now = Contact.membership_status
    like: list[ColumnElement[bool]] = [now.in_(others)] if others else []
    if parts:
        like.append(exists().where(Membership.contact_id == Contact.id, *parts))
    if "none" not in chosen:
        return and_(*like) if like else None
    # "No membership, or one like this": those with none have no row to match the plan or dates.
    if parts:
        return or_(now == "", and_(*like))
    return now.in_(["", *others])


def conditions(f: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The WHERE conditions for a cleaned filter (erased contacts never match)."""
    out: list[ColumnElement[bool]] = [Contact.erased_at.is_(None)]
    membership = _membership_condition(f)
    if membership is not None:
        out.append(membership)
    if f.get("donated") or f.get("donated_min"):
        parts = [Payment.contact_id == Contact.id, Payment.status == PaymentStatus.PAID]
        if f.get("donated") == "period":
            parts += _between(Payment.paid_at, f, "donated")
        if f.get("donated_min"):
            parts.append(Payment.amount >= f["donated_min"])
        out.append(exists().where(Payment.kind == PaymentKind.DONATION, *parts))
    if f.get("gift_aid"):
        declared = exists().where(
            GiftAidDeclaration.contact_id == Contact.id, GiftAidDeclaration.cancelled_at.is_(None)
        )
        out.append(declared if f["gift_aid"] == "yes" else ~declared)
    for pair in f.get("consent", []):
        channel, purpose = pair.split(":")
        if (channel, purpose) == ("email", "news"):
            out.append(Contact.email_consent.is_(True))  # kept by crm.contacts.consent, in the index
            continue
        out.append(
            exists().where(
                ContactConsent.contact_id == Contact.id,
                ContactConsent.channel == channel,
                ContactConsent.purpose == purpose,
                ContactConsent.granted.is_(True),
            )
        )
    if f.get("tag_ids"):
        out.append(exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag_id.in_(f["tag_ids"])))
    if f.get("postcode_areas"):
        out.append(Contact.postcode_area.in_(f["postcode_areas"]))
    if f.get("sources"):
        out.append(Contact.source.in_(f["sources"]))
    if f.get("languages") and hasattr(Contact, "preferred_language"):
        out.append(Contact.preferred_language.in_(f["languages"]))  # the languages issue's column
    return out


def contact_ids(f: dict[str, Any]) -> Select[Any]:
    return select(Contact.id).where(*conditions(f))


def count(f: dict[str, Any]) -> int:
    from crm.extensions import db

    return int(db.session.scalar(select(func.count()).select_from(Contact).where(*conditions(f))) or 0)


def reachable_conditions(f: dict[str, Any], purpose: str) -> list[ColumnElement[bool]]:
    """The audience narrowed to whom a marketing email for `purpose` may go: consent and no suppression."""
    return [
        *conditions({**f, "consent": sorted({*f.get("consent", []), f"email:{purpose}"})}),
        ~exists().where(Suppression.email == Contact.email),
        true(),
    ]
