"""Billing writes every payment taken online in one place (`record_online_payment`): the webhook
and success page through `record_stripe_payment`, and the demo, which is offline, directly."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm.billing.models import Payment, PaymentKind
from crm.billing.services import PaymentReferences, record_online_payment
from crm.core.types import utcnow
from crm.extensions import db
from tests.fixtures import make_contact


def _gift(contact_id: int, references: PaymentReferences | None = None) -> tuple[Payment, bool]:
    return record_online_payment(
        contact_id=contact_id, membership_id=None, kind=PaymentKind.DONATION, amount=1500, currency="gbp",
        paid_at=utcnow(), gift_aid_eligible=True, references=references,
    )  # fmt: skip


def test_a_payment_taken_online_without_provider_ids_is_a_paid_card_payment(app):  # type: ignore[no-untyped-def]
    contact_id = make_contact("giver@example.org").id
    payment, created = _gift(contact_id)
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(Payment, payment.id)
    assert created and (row.status, row.method, row.amount, row.kind) == ("paid", "card", 1500, "donation")
    assert row.gift_aid_eligible
    assert (row.stripe_invoice_id, row.stripe_payment_intent_id, row.failure_message) == (None, None, "")


def test_a_payment_another_transaction_recorded_first_is_not_written_twice(app):  # type: ignore[no-untyped-def]
    contact_id = make_contact("giver@example.org").id
    same = PaymentReferences(payment_intent_id="pi_recorded_first", checkout_session_id="cs_1")
    first, _ = _gift(contact_id, same)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # the insert's savepoint gives way: the winner's row
        second, created = _gift(contact_id, same)
        assert (second.id, created) == (first.id, False)
        db.session.commit()
    else:  # SQLite serialises writers: the unique key refuses it, and the caller rolls back and retries
        with pytest.raises(IntegrityError):
            _gift(contact_id, same)
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Payment)) == 1
