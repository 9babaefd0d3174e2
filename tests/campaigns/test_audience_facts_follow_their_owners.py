"""The audience count reads two facts kept on the contact: `membership_status` (the lifecycle's)
and `email_consent` (the consent module's). Whatever changes a membership or a consent, the facts
say what the memberships and the current consents say, so the count cannot drift from them."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from crm.audiences import filters
from crm.contacts import consent, consent_bulk
from crm.contacts.models import Contact, ContactConsent
from crm.core.types import utcnow
from crm.extensions import db
from crm.members_area.erasure import erase_contact
from crm.memberships import lifecycle
from crm.memberships.models import CURRENT_STATUSES, Membership
from crm.staff import import_service
from crm.staff.services import merge_contacts
from tests.fixtures import make_contact, make_user
from tests.memberships.factories import make_plan


def _source_of_truth() -> dict[str, tuple[str, bool]]:
    """Per email: the current membership's status (else the newest one's, "" for none) and the
    current email news consent, read from the memberships and contact_consent themselves."""
    out = {}
    for contact in db.session.scalars(select(Contact)):
        rows = sorted(
            db.session.scalars(select(Membership).where(Membership.contact_id == contact.id)),
            key=lambda m: (m.status not in CURRENT_STATUSES, -m.id),
        )
        granted = db.session.scalar(
            select(ContactConsent.granted).where(
                ContactConsent.contact_id == contact.id,
                ContactConsent.channel == "email",
                ContactConsent.purpose == "news",
            )
        )
        out[contact.email] = (rows[0].status if rows else "", bool(granted))
    return out


def _facts() -> dict[str, tuple[str, bool]]:
    rows = db.session.execute(select(Contact.email, Contact.membership_status, Contact.email_consent))
    return {email: (status, consented) for email, status, consented in rows}


def assert_facts_agree() -> None:
    db.session.flush()
    db.session.expire_all()
    assert _facts() == _source_of_truth()


def _news(contact: Contact, granted: bool) -> None:
    consent.record_consent(contact, "email", "news", granted, source="staff", wording="News by email")


def _counted(status: list[str]) -> set[str]:
    wanted = filters.contact_ids(filters.clean({"status": status, "consent": ["email:news"]}))
    return set(db.session.scalars(select(Contact.email).where(Contact.id.in_(wanted))))


def test_the_status_fact_follows_every_lifecycle_transition_and_the_daily_job(app):
    plan = make_plan("standard-yearly")
    staff = make_user("staff@example.org", role="admin")
    ana = make_contact("ana@example.org")
    assert_facts_agree()
    membership = lifecycle.start_pending(ana, plan, auto_renew=True)
    assert_facts_agree()
    now = utcnow()
    lifecycle.activate_from_payment(membership, period_start=now, paid_through=now + timedelta(days=365), amount=1000,
                                    reason="paid")  # fmt: skip
    assert_facts_agree()
    lifecycle.suspend(membership, actor=staff, reason="test")
    assert_facts_agree()
    lifecycle.unsuspend(membership, actor=staff, reason="test")
    lifecycle.enter_grace(membership, reason="renewal failed")
    assert_facts_agree()
    lifecycle.lapse(membership, reason="gave up")
    assert _facts()["ana@example.org"][0] == "lapsed"
    assert_facts_agree()
    ben = make_contact("ben@example.org")
    lifecycle.grant_complimentary(ben, plan, actor=staff, until=now + timedelta(days=10))
    _news(ben, True)
    db.session.commit()
    assert _counted(["lapsed"]) == set()
    with time_machine.travel(now + timedelta(days=60), tick=False):
        lifecycle.run_daily()  # set-based: over, then grace, then lapsed
        lifecycle.run_daily()
    assert_facts_agree()
    assert _facts()["ben@example.org"][0] in ("grace", "lapsed")
    cara = make_contact("cara@example.org")
    lifecycle.grant_complimentary(cara, plan, actor=staff)
    granted = lifecycle.current_membership(cara.id)
    assert granted is not None
    lifecycle.cancel_now(granted, actor=staff, reason="test")
    assert_facts_agree()


def test_the_consent_fact_follows_grant_and_withdraw_and_the_count_with_it(app):
    ana = make_contact("ana@example.org")
    make_contact("ben@example.org")
    _news(ana, True)
    assert_facts_agree()
    assert _counted(["none"]) == {"ana@example.org"}
    consent.withdraw(ana, "email", ["news"], source="unsubscribe", wording="Unsubscribed")
    assert_facts_agree()
    assert _counted(["none"]) == set()


def test_the_facts_follow_an_import_of_statuses_and_consents(app):
    make_plan("standard-yearly")
    make_contact("ana@example.org")
    db.session.commit()
    csv = (
        "email,plan,status,joined,email_consent\r\n"
        "ana@example.org,standard-yearly,lapsed,2024-01-01,yes\r\n"
        "ben@example.org,standard-yearly,active,2026-01-01,yes\r\n"
        "cara@example.org,,,,no\r\n"
    )
    mapping = {"email": "email", "plan": "plan", "status": "status", "joined": "joined",
               "email_consent": "email_consent"}  # fmt: skip
    import_service.import_members(csv, mapping, source_name="facts.csv")
    db.session.commit()
    assert_facts_agree()
    assert _facts()["ana@example.org"] == ("lapsed", True)
    assert _counted(["none", "lapsed"]) == {"ana@example.org"}


def test_the_facts_follow_a_merge_and_an_erasure(app):
    plan = make_plan("standard-yearly")
    staff = make_user("staff@example.org", role="admin")
    kept = make_contact("kept@example.org")
    duplicate = make_contact("duplicate@example.org")
    lifecycle.grant_complimentary(duplicate, plan, actor=staff)
    _news(duplicate, True)
    db.session.commit()
    merge_contacts(kept, str(duplicate.id), actor=staff)
    db.session.commit()
    assert_facts_agree()
    assert _facts()["kept@example.org"] == ("active", True)
    kept.erasure_requested_at = utcnow()
    erase_contact(kept, actor=staff)
    db.session.commit()
    assert_facts_agree()
    assert _counted(["active"]) == set()


def test_the_consent_fact_follows_the_bulk_consent_path(app):
    ana = make_contact("ana@example.org")
    make_contact("ben@example.org")
    db.session.commit()
    consent_bulk.record_imported([(ana.id, "email", "news", True)], wording="bulk", at=utcnow())
    assert_facts_agree()
    assert _counted(["none"]) == {"ana@example.org"}
