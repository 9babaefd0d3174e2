"""An email is written in the same transaction as its cause: rolled back -> no row, nothing sent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.email.models import OutboxMessage
from crm.email.sender import MEMORY_OUTBOX
from crm.email.services import queue_email
from crm.extensions import db
from tests.fixtures import make_contact


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"MAIL_BACKEND": "memory"}


def _rows() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def _lapsed_email(to: str = "ana@example.org") -> OutboxMessage | None:
    return queue_email(to, "membership_lapsed", {"first_name": "Ana", "plan_name": "Standard"})


def test_exception_after_queue_email_leaves_no_row_and_sends_nothing(app):
    with pytest.raises(RuntimeError):
        try:
            _lapsed_email()
            raise RuntimeError("the change that caused the email failed")
        except RuntimeError:
            db.session.rollback()
            raise
    db.session.commit()
    assert _rows() == 0
    assert MEMORY_OUTBOX == []


@pytest.mark.new_app
def test_request_that_fails_after_queueing_sends_nothing(app):
    def failing_view():  # type: ignore[no-untyped-def]
        _lapsed_email()
        raise RuntimeError("boom after queue_email")

    app.add_url_rule("/test-only/fails-after-email", "fails_after_email", failing_view)
    response = app.test_client().get("/test-only/fails-after-email")
    assert response.status_code == 500
    db.session.remove()
    assert _rows() == 0
    assert MEMORY_OUTBOX == []


def test_committed_email_is_delivered_right_after_commit(app):
    message = _lapsed_email()
    assert message is not None
    assert MEMORY_OUTBOX == []  # nothing leaves before the commit
    db.session.commit()
    assert [m["To"] for m in MEMORY_OUTBOX] == ["ana@example.org"]
    assert "has ended" in str(MEMORY_OUTBOX[0]["Subject"])
    stored = db.session.get(OutboxMessage, message.id)
    assert stored.status == "sent" and stored.sent_at is not None and stored.attempts == 1


def test_released_savepoint_waits_for_the_outer_commit(app):
    with db.session.begin_nested():
        _lapsed_email()
    assert MEMORY_OUTBOX == []
    db.session.commit()
    assert len(MEMORY_OUTBOX) == 1


def test_rolled_back_savepoint_keeps_the_rest_of_the_transaction(app):
    _lapsed_email("kept@example.org")
    nested = db.session.begin_nested()
    _lapsed_email("dropped@example.org")
    nested.rollback()
    db.session.commit()
    assert [m["To"] for m in MEMORY_OUTBOX] == ["kept@example.org"]
    assert db.session.scalars(select(OutboxMessage.to_email)).all() == ["kept@example.org"]


def test_dedupe_key_queues_a_message_once(app):
    assert queue_email("a@example.org", "membership_lapsed", {}, dedupe_key="lapsed:1") is not None
    db.session.commit()
    assert queue_email("a@example.org", "membership_lapsed", {}, dedupe_key="lapsed:1") is None
    db.session.commit()
    assert _rows() == 1 and len(MEMORY_OUTBOX) == 1


def test_with_delivery_after_commit_off_rows_wait_for_the_sweep(app):
    from crm.email.delivery import sweep

    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    _lapsed_email()
    db.session.commit()
    assert MEMORY_OUTBOX == []
    assert sweep()["sent"] == 1
    assert len(MEMORY_OUTBOX) == 1


def test_console_backend_marks_sent_and_staff_can_read_the_text(app, staff_client):
    app.config["MAIL_BACKEND"] = None  # no MAIL_SERVER: the development console
    contact = make_contact("reader@example.org")
    message = queue_email(contact.email, "membership_lapsed", {"first_name": "Rosa", "plan_name": "Life"})
    db.session.commit()
    assert db.session.get(OutboxMessage, message.id).status == "sent"
    listing = staff_client.get("/staff/outbox").get_data(as_text=True)
    assert "reader@example.org" in listing and "Membership lapsed" in listing
    detail = staff_client.get(f"/staff/outbox/{message.id}").get_data(as_text=True)
    assert "Dear Rosa," in detail and "rejoin at any time" in detail
