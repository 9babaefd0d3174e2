"""The billing chaos test: card and Direct Debit joins with donations, Direct Debits that settle
or fail, Direct Debits the bank returns after they looked paid (a first collection, a renewal),
regular and one-off gifts, renewals and refunds, their events duplicated (up to 3x),
shuffled and one in ten failing inside the handler, then redelivered as Stripe does.

At the end no one has two memberships, every charge Stripe took is recorded once (membership
and donation apart, adding up to the charge), no donation is lost, and a refused Direct Debit
leaves no membership and no payment. A returned first collection leaves no membership, its
payments failed (kept) and one clear email; a returned renewal leaves the member in grace with
one failed-payment email.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select

from crm.billing.models import Payment
from crm.contacts.models import Contact
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from tests.join.test_join_form import form
from tests.reliability.conftest import join_and_pay
from tests.reliability.test_webhook_chaos import (  # noqa: F401  (faulty_handlers is a fixture)
    SUBSCRIBED,
    _deliver_in_process,
    _deliver_until_done,
    faulty_handlers,
)

#: Each supporter follows one of these journeys, in turn.
JOURNEYS = (
    "card+gift", "dd+gift", "dd-fails", "monthly-card", "regular-gift", "one-off-gift",
    "dd-returned", "dd-renewal-returned",
)  # fmt: skip
#: Supporters and the schedule's seed: `make test` has two on each journey (the same journeys,
#: duplicates, shuffle and faults as at any size), and one on each with the seeds that once ended
#: a returned renewal active (its invoice.payment_failed applied before the first payment's
#: events); `make soak` six on each.
SIZES = [
    pytest.param(2 * len(JOURNEYS), 22, id="two-each"),
    pytest.param(len(JOURNEYS), 22, id="one-each-seed-22"),
    pytest.param(len(JOURNEYS), 5, id="one-each-seed-5"),
    pytest.param(6 * len(JOURNEYS), 22, id="soak", marks=pytest.mark.soak),
]
DONOR = {
    "first_name": "Dee",
    "last_name": "Donor",
    "gift_aid": "y",
    "address_line1": "2 Low Road",
    "postcode": "ls1 4ap",
}


def _join(client, plans, sandbox, email: str, *, direct_debit: bool) -> str:  # type: ignore[no-untyped-def]
    """A yearly join with a £10 gift, paid by card or set up by Direct Debit."""
    response = client.post("/join", data=form(plans, email=email, donation="10"))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    session_id = db.session.scalar(
        select(Membership.stripe_checkout_session_id)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(Contact.email == email)
    )
    (sandbox.pay_by_direct_debit if direct_debit else sandbox.pay)(session_id)
    return session_id


def _donate(client, sandbox, email: str, frequency: str) -> None:  # type: ignore[no-untyped-def]
    client.get("/donate")
    response = client.post("/donate", data={**DONOR, "email": email, "frequency": frequency, "preset": "25"})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    (session,) = [
        s for s in sandbox.find("checkout.session")
        if s["metadata"].get("kind") == "donation" and s["status"] == "open"
    ]  # fmt: skip
    sandbox.pay(session["id"])


@pytest.mark.parametrize(("supporters", "seed"), SIZES)
def test_money_is_recorded_once_whatever_the_order_of_direct_debit_and_donation_events(
    app,
    plans,
    stripe_sandbox,
    faulty_handlers,  # noqa: F811
    supporters,
    seed,
):
    rng = random.Random(seed)  # noqa: S311  (test schedule)
    client = app.test_client()
    journeys: dict[str, str] = {}
    settle: list[tuple[str, bool]] = []
    for n in range(supporters):
        journey, email = JOURNEYS[n % len(JOURNEYS)], f"money{n}@example.org"
        journeys[email] = journey
        if journey == "card+gift":
            _join(client, plans, stripe_sandbox, email, direct_debit=False)
        elif journey.startswith("dd"):
            settle.append(
                (_join(client, plans, stripe_sandbox, email, direct_debit=True), journey != "dd-fails")
            )
        elif journey == "monthly-card":
            join_and_pay(client, plans, stripe_sandbox, email, "monthly")
        else:
            _donate(client, stripe_sandbox, email, "month" if journey == "regular-gift" else "once")
    for session_id, succeed in settle:  # days later, before any webhook arrived
        stripe_sandbox.settle_direct_debit(session_id, succeed=succeed)
    for session_id, _ in settle:  # the bank returns a first collection that looked paid
        if journeys[stripe_sandbox.object(session_id)["customer_details"]["email"]] == "dd-returned":
            stripe_sandbox.return_direct_debit(session_id=session_id)
    for sub in stripe_sandbox.find("subscription"):
        if sub["status"] == "active":
            stripe_sandbox.renew(sub["id"])
    for email, journey in journeys.items():  # ... and a renewal, days after it looked paid
        if journey == "dd-renewal-returned":
            customer = db.session.scalar(select(Contact.stripe_customer_id).where(Contact.email == email))
            (sub,) = stripe_sandbox.find("subscription", customer=customer)
            stripe_sandbox.return_direct_debit(invoice_id=sub["latest_invoice"])
    charges = [c for c in stripe_sandbox.find("charge") if c["status"] == "succeeded"]
    for charge in charges[::5]:
        stripe_sandbox.refund(charge["id"], min(500, charge["amount"] // 2))

    events = [e for e in stripe_sandbox.take_events() if e["type"] in SUBSCRIBED]
    deliveries = [e for e in events for _ in range(rng.randint(1, 3))]
    rng.shuffle(deliveries)
    statuses, applied = _deliver_until_done(lambda queue: _deliver_in_process(app, queue), deliveries)

    assert set(statuses) <= {200, 500}, statuses
    assert sum(faulty_handlers.values()) >= 1, "some deliveries failed inside the handler"
    assert applied == Counter(e["id"] for e in events), "an event was applied twice, or never"
    _assert_money_matches_stripe(stripe_sandbox, journeys)


def _assert_money_matches_stripe(sandbox, journeys: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    db.session.commit()
    contacts = {c.email: c for c in db.session.scalars(select(Contact))}
    taken: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for charge in sandbox.find("charge"):
        if charge["status"] == "succeeded":
            taken[charge["customer"]] += charge["amount"]
            refunded[charge["customer"]] += charge["amount_refunded"]
    for email, journey in journeys.items():
        contact = contacts[email]
        memberships = db.session.scalars(select(Membership).where(Membership.contact_id == contact.id)).all()
        paid = [p for p in db.session.scalars(select(Payment).where(Payment.contact_id == contact.id))
                if p.status != "failed"]  # fmt: skip
        kinds = Counter(p.kind for p in paid)
        assert sum(p.amount for p in paid) == taken[contact.stripe_customer_id], (email, journey)
        assert sum(p.amount_refunded for p in paid) == refunded[contact.stripe_customer_id], (email, journey)
        emails = Counter(
            db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.contact_id == contact.id))
        )
        if journey in ("dd-fails", "dd-returned"):
            assert [m.status for m in memberships] == ["expired"] and not paid, (email, memberships, paid)
            assert emails["direct_debit_failed"] == 1, (email, emails)
        elif journey == "dd-renewal-returned":
            assert [m.status for m in memberships] == ["grace"], (email, [m.status for m in memberships])
            assert kinds == Counter(membership=1, donation=1), (email, kinds)
            assert emails["payment_failed"] == 1, (email, emails)
        elif journey in ("regular-gift", "one-off-gift"):
            assert not memberships
            assert kinds == Counter(donation=2 if journey == "regular-gift" else 1), (email, kinds)
        else:
            assert [m.status for m in memberships] == ["active"], (email, [m.status for m in memberships])
            renewals = 2  # the first payment and the renewal
            assert kinds["membership"] == renewals, (email, kinds)
            gifts = 0 if journey == "monthly-card" else 1  # the gift, with the first payment only
            assert kinds["donation"] == gifts, (email, kinds)
