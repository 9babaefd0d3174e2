"""The Gift Aid claim: HMRC's columns, only eligible payments, never claimed twice."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.billing.models import GiftAidClaim, Payment
from crm.extensions import db
from crm.staff import gift_aid_service
from tests.fixtures import make_contact
from tests.staff_content.conftest import declare, make_membership, make_payment, make_plan

RANGE = {"date_from": "2026-01-01", "date_to": "2026-06-30"}


def d(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


def _data():  # type: ignore[no-untyped-def]
    eligible_plan, other_plan = make_plan(), make_plan("org", "Organisation", gift_aid_eligible=False)
    ana = make_contact("ana@example.org", title="Ms", first_name="Ana", last_name="Torres", postcode="n1 9gu")
    declare(ana, d(1, 1), house="12", postcode="N1 9GU")
    membership = make_membership(ana, eligible_plan)
    ok_donation = make_payment(ana, d(2, 1), 1000)
    ok_membership = make_payment(ana, d(3, 1), 3600, kind="membership", membership_id=membership.id,
                                 status="partly_refunded", amount_refunded=600)  # fmt: skip
    make_payment(ana, d(12, 15, 2025), 500)  # before the declaration
    make_payment(ana, d(4, 1), 700, status="refunded", amount_refunded=700)
    make_payment(ana, d(4, 2), 700, status="failed")
    make_payment(ana, d(4, 3), 700, gift_aid_eligible=False)
    make_payment(ana, d(8, 1), 700)  # after the range
    ben = make_contact(
        "ben@example.org", first_name='=HYPERLINK("http://x","y")', last_name="Cole", address_line1="Flat 2"
    )
    declare(ben, d(1, 1), cancelled_at=d(2, 15))
    ben_ok = make_payment(ben, d(2, 10), 2000)
    make_payment(ben, d(2, 20), 2000)  # after cancelling
    org_membership = make_membership(ben, other_plan, "lapsed")
    make_payment(ben, d(2, 11), 5000, kind="membership", membership_id=org_membership.id)  # plan not eligible
    cy = make_contact("cy@example.org")
    make_payment(cy, d(3, 3), 1500)  # no declaration
    db.session.commit()
    return {ok_donation.id, ok_membership.id, ben_ok.id}


def _csv(response):  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_preview_lists_only_eligible_payments_in_hmrc_columns(staff_client):
    expected = _data()
    rows = gift_aid_service.preview_claim(date(2026, 1, 1), date(2026, 6, 30))
    assert {r.payment_id for r in rows} == expected
    html = staff_client.get("/staff/gift-aid", query_string=RANGE).get_data(as_text=True)
    assert "Preview: 3 payments, £60.00" in html
    assert "Download CSV and mark as claimed" in html


def test_claim_downloads_the_schedule_and_marks_payments_once(staff_client):
    expected = _data()
    response = staff_client.post("/staff/gift-aid/claim", data=RANGE)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = _csv(response)
    assert rows[0] == ["Title", "First name", "Last name", "House name or number", "Postcode",
                       "Aggregated donations", "Sponsored event", "Donation date", "Amount"]  # fmt: skip
    assert rows[1] == ["Ms", "Ana", "Torres", "12", "N1 9GU", "", "", "01/02/26", "10.00"]
    assert ['\'=HYPERLINK("http://x","y")', "Cole", "Flat 2"] == rows[2][1:4]
    assert rows[2][7:] == ["10/02/26", "20.00"]
    assert rows[3][7:] == ["01/03/26", "30.00"]
    claim = db.session.scalar(select(GiftAidClaim))
    assert claim.payment_count == 3 and claim.total_amount == 6000
    assert (
        set(db.session.scalars(select(Payment.id).where(Payment.gift_aid_claim_id == claim.id))) == expected
    )

    again = staff_client.post("/staff/gift-aid/claim", data=RANGE, follow_redirects=True)
    assert "nothing left to claim" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(GiftAidClaim)) == 1
    assert gift_aid_service.preview_claim(date(2026, 1, 1), date(2026, 6, 30)) == []

    redownload = staff_client.get(f"/staff/gift-aid/claims/{claim.id}.csv")
    assert _csv(redownload) == rows
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"gift_aid.claim", "export.gift_aid_claim"} <= actions


def test_a_later_payment_goes_in_the_next_claim_only(staff_client):
    _data()
    staff_client.post("/staff/gift-aid/claim", data=RANGE)
    ana = db.session.scalar(select(Payment).where(Payment.amount == 1000)).contact
    late = make_payment(ana, d(6, 1), 1200)
    db.session.commit()
    rows = _csv(staff_client.post("/staff/gift-aid/claim", data=RANGE))
    assert len(rows) == 2 and rows[1][-1] == "12.00"
    db.session.expire_all()
    assert late.gift_aid_claim_id is not None


def test_bad_dates_are_refused_with_a_message(staff_client):
    html = staff_client.get(
        "/staff/gift-aid", query_string={"date_from": "2026-06-30", "date_to": "2026-01-01"}
    ).get_data(as_text=True)
    assert "The end date must be on or after the start date" in html
    html = staff_client.get(
        "/staff/gift-aid", query_string={"date_from": "yesterday", "date_to": ""}
    ).get_data(as_text=True)
    assert "There is a problem" in html
    response = staff_client.post("/staff/gift-aid/claim", data={"date_from": "x"}, follow_redirects=True)
    assert "Choose a valid date range" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(GiftAidClaim)) == 0


def test_accented_names_go_to_hmrc_transliterated_and_staff_see_how(staff_client):
    """HMRC's schedule takes letters without accents: "Muñoz" is sent as "Munoz", shown to staff."""
    from crm.staff.gift_aid_service import hmrc_name

    plan = make_plan()
    maria = make_contact(
        "mj@example.org", first_name="María José", last_name="Quispe Muñoz", postcode="E1 6AN"
    )
    declare(maria, d(1, 1), house="3", postcode="E1 6AN")
    make_membership(maria, plan)
    make_payment(maria, d(2, 1), 1000)
    db.session.commit()
    html = staff_client.get("/staff/gift-aid", query_string=RANGE).get_data(as_text=True)
    assert "Quispe Muñoz → Quispe Munoz" in html and "María José → Maria Jose" in html
    rows = _csv(staff_client.post("/staff/gift-aid/claim", data=RANGE))
    assert rows[1][1:3] == ["Maria Jose", "Quispe Munoz"]
    assert hmrc_name("O’Brien-Smith") == "O'Brien-Smith" and len(hmrc_name("A" * 50)) == 35
