"""Gift Aid claims in the layout of HMRC's Charities Online schedule; nothing is claimed twice.

A payment is claimable when it is Gift Aid eligible, paid (or partly refunded: the net amount is
claimed), a membership on an eligible plan or a donation, not yet in a claim, and made while the
donor had a valid declaration (valid_from <= paid_at, and not cancelled by then).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update

from crm.audit.services import record
from crm.billing.models import GiftAidClaim, Payment, PaymentKind, PaymentStatus
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.core.csv_export import FORMULA_STARTS
from crm.core.database import affected_rows
from crm.extensions import db
from crm.memberships.models import Membership, Plan

#: The columns of HMRC's Charities Online schedule spreadsheet, in order.
COLUMNS = (
    "Title",
    "First name",
    "Last name",
    "House name or number",
    "Postcode",
    "Aggregated donations",
    "Sponsored event",
    "Donation date",
    "Amount",
)


@dataclass(frozen=True)
class ClaimRow:
    payment_id: int
    title: str
    first_name: str
    last_name: str
    house: str
    postcode: str
    paid_at: datetime
    amount: int  #: pence, net of refunds

    def cells(self) -> list[str]:
        return [
            _cell(hmrc_name(self.title)),
            _cell(hmrc_name(self.first_name)),
            _cell(hmrc_name(self.last_name)),
            _cell(self.house),
            _cell(self.postcode.upper()),
            "",
            "",
            self.paid_at.strftime("%d/%m/%y"),
            f"{self.amount // 100}.{self.amount % 100:02d}",
        ]

    @property
    def transliterated(self) -> list[tuple[str, str]]:
        """(as the donor wrote it, as HMRC's schedule takes it) for each name that had to change."""
        return [
            (name, hmrc_name(name))
            for name in (self.first_name, self.last_name)
            if name and hmrc_name(name) != name
        ]


#: HMRC's schedule takes names of at most 35 characters, without accents.
HMRC_NAME_LENGTH = 35


def hmrc_name(text: str) -> str:
    """A name as HMRC's Charities Online schedule takes it: accents and other marks dropped
    ("Muñoz" -> "Munoz", "Seán" -> "Sean"), curly apostrophes made straight, cut to 35 characters."""
    plain = unicodedata.normalize("NFKD", (text or "").replace("\u2019", "'"))
    kept = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return " ".join(kept.split())[:HMRC_NAME_LENGTH]


def _cell(text: str) -> str:
    """A spreadsheet must not run a donor's name as a formula."""
    text = text or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def day_range(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start of date_from, start of the day after date_to) in UTC."""
    return (
        datetime.combine(date_from, time(), tzinfo=UTC),
        datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC),
    )


def _covered_by_declaration():
    d = GiftAidDeclaration
    return (
        exists()
        .where(d.contact_id == Payment.contact_id, d.valid_from <= Payment.paid_at)
        .where((d.cancelled_at.is_(None)) | (d.cancelled_at > Payment.paid_at))
    )


def _on_eligible_plan():
    return (
        exists()
        .where(Membership.id == Payment.membership_id, Plan.id == Membership.plan_id)
        .where(Plan.gift_aid_eligible.is_(True))
    )


def claimable_filter(start: datetime, end: datetime):
    return (
        Payment.gift_aid_eligible.is_(True)
        & Payment.status.in_((PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED))
        & (Payment.amount > Payment.amount_refunded)
        & Payment.gift_aid_claim_id.is_(None)
        & (Payment.paid_at >= start)
        & (Payment.paid_at < end)
        & (
            (Payment.kind == PaymentKind.DONATION)
            | ((Payment.kind == PaymentKind.MEMBERSHIP) & _on_eligible_plan())
        )
        & _covered_by_declaration()
    )


def _rows(where: Any) -> list[ClaimRow]:
    """Claim rows for the payments matching `where`, with the declaration's address when given."""
    payments = db.session.execute(
        select(
            Payment.id,
            Payment.contact_id,
            Payment.paid_at,
            (Payment.amount - Payment.amount_refunded).label("net"),
            Contact.title,
            Contact.first_name,
            Contact.last_name,
            Contact.address_line1,
            Contact.postcode,
        )
        .join(Contact, Contact.id == Payment.contact_id)
        .where(where)
        .order_by(Payment.paid_at, Payment.id)
    ).all()
    contact_ids = {p.contact_id for p in payments}
    declarations: dict[int, list[GiftAidDeclaration]] = {}
    if contact_ids:
        for found in db.session.scalars(
            select(GiftAidDeclaration)
            .where(GiftAidDeclaration.contact_id.in_(contact_ids))
            .order_by(GiftAidDeclaration.valid_from.desc())
        ):
            declarations.setdefault(found.contact_id, []).append(found)
    rows = []
    for p in payments:
        dec = next(
            (
                d
                for d in declarations.get(p.contact_id, [])
                if d.valid_from <= p.paid_at and (d.cancelled_at is None or d.cancelled_at > p.paid_at)
            ),
            None,
        )
        house = (dec.house if dec and dec.house else "") or p.address_line1
        postcode = (dec.postcode if dec and dec.postcode else "") or p.postcode
        rows.append(ClaimRow(p.id, p.title, p.first_name, p.last_name, house, postcode, p.paid_at, p.net))
    return rows


def preview_claim(date_from: date, date_to: date) -> list[ClaimRow]:
    """What a claim for these dates would contain now (nothing is marked)."""
    return _rows(claimable_filter(*day_range(date_from, date_to)))


def create_claim(date_from: date, date_to: date, *, actor: Any = None) -> GiftAidClaim | None:
    """Mark every claimable payment in the range as claimed by one new claim, in one UPDATE.

    The UPDATE only touches payments with no claim yet, so two claims racing for the same range
    never share a payment: the second finds none. Returns None when nothing was claimable.
    """
    start, end = day_range(date_from, date_to)
    claim = GiftAidClaim(period_from=start, period_to=end, created_by_id=getattr(actor, "id", None))
    db.session.add(claim)
    db.session.flush()
    result = db.session.execute(
        update(Payment)
        .where(claimable_filter(start, end))
        .values(gift_aid_claim_id=claim.id)
        .execution_options(synchronize_session=False)
    )
    if not affected_rows(result):
        db.session.delete(claim)
        db.session.flush()
        return None
    totals = db.session.execute(
        select(
            func.count(Payment.id), func.coalesce(func.sum(Payment.amount - Payment.amount_refunded), 0)
        ).where(Payment.gift_aid_claim_id == claim.id)
    ).one()
    claim.payment_count, claim.total_amount = int(totals[0]), int(totals[1])
    record(
        "gift_aid.claim",
        target_type="gift_aid_claim",
        target_id=claim.id,
        after={
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "payments": claim.payment_count,
            "total": claim.total_amount,
        },
        actor=actor,
    )
    db.session.flush()
    return claim


def claim_rows(claim: GiftAidClaim) -> list[ClaimRow]:
    return _rows(Payment.gift_aid_claim_id == claim.id)


def rows_to_csv(rows: list[ClaimRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells())
    return out.getvalue()


def past_claims() -> list[GiftAidClaim]:
    return list(
        db.session.scalars(
            select(GiftAidClaim).order_by(GiftAidClaim.created_at.desc(), GiftAidClaim.id.desc())
        )
    )
