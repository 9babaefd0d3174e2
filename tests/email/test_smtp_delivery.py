"""Delivery over a real SMTP server on loopback: retries with backoff, failure, resend, one send."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
import time_machine
from sqlalchemy import select, update

from crm.audit.models import AuditEvent
from crm.core.types import utcnow
from crm.email.delivery import deliver_due, sweep
from crm.email.models import OutboxMessage
from crm.email.services import queue_email
from crm.extensions import db
from tests.fixtures import csrf_token, make_contact


@pytest.fixture
def app_config(smtp) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {**smtp.app_config(), "MAIL_MAX_ATTEMPTS": 3, "MAIL_RETRY_BASE_SECONDS": 60}


def _queue(to: str = "ana@example.org", **kwargs) -> OutboxMessage:  # type: ignore[no-untyped-def]
    message = queue_email(to, "membership_lapsed", {"first_name": "Ana", "plan_name": "Standard"}, **kwargs)
    assert message is not None
    return message


def _reload(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def test_temporary_failure_is_retried_after_backoff_then_sent(app, smtp):
    smtp.handler.replies = ["451 4.3.0 try again later"]
    message_id = _queue().id
    db.session.commit()  # first attempt, inline, right after commit: 451

    first = _reload(message_id)
    assert first.status == "queued" and first.attempts == 1
    assert "451" in first.last_error
    assert first.next_attempt_at > utcnow() + timedelta(seconds=50)
    assert deliver_due()["sent"] == 0  # not due yet: the backoff is respected
    assert smtp.handler.accepted == []

    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        assert deliver_due()["sent"] == 1
    sent = _reload(message_id)
    assert sent.status == "sent" and sent.attempts == 2 and sent.last_error == ""
    assert len(smtp.handler.accepted) == 1
    assert smtp.handler.accepted[0]["To"] == "ana@example.org"


def test_backoff_doubles_between_attempts(app, smtp):
    smtp.handler.default = "451 4.3.0 still busy"
    message_id = _queue().id
    db.session.commit()
    first_wait = _reload(message_id).next_attempt_at
    with time_machine.travel(first_wait + timedelta(seconds=1), tick=False):
        deliver_due()
        second = _reload(message_id)
        assert second.attempts == 2
        assert second.next_attempt_at - utcnow() == timedelta(seconds=120)


def test_always_failing_message_is_failed_visible_and_resend_works(app, smtp, staff_client, staff_user):
    smtp.handler.default = "451 4.3.0 mailbox unavailable"
    message_id = _queue("rosa@example.org").id
    db.session.commit()
    start = utcnow()
    for hours in (1, 2):
        with time_machine.travel(start + timedelta(hours=hours), tick=False):
            deliver_due()
    failed = _reload(message_id)
    assert failed.status == "failed" and failed.attempts == 3
    assert smtp.handler.accepted == []

    page = staff_client.get("/staff/outbox?status=failed").get_data(as_text=True)
    assert "rosa@example.org" in page and "mailbox unavailable" in page and "Resend" in page

    smtp.handler.default = "250 OK"
    token = csrf_token(staff_client, f"/staff/outbox/{message_id}")
    response = staff_client.post(f"/staff/outbox/{message_id}/resend", data={"csrf_token": token})
    assert response.status_code == 302
    assert "was sent again" in staff_client.get(response.headers["Location"]).get_data(as_text=True)
    resent = _reload(message_id)
    assert resent.status == "sent"
    assert len(smtp.handler.accepted) == 1
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "email.resend")).one()
    assert audit.actor_user_id == staff_user.id and audit.target_id == str(message_id)


def test_resend_without_csrf_token_changes_nothing(app, smtp, staff_client):
    smtp.handler.default = "550 5.1.1 no such user"
    smtp.handler.rcpt_reply = "550 5.1.1 no such user"
    message_id = _queue().id
    db.session.commit()
    assert _reload(message_id).status == "failed"  # a permanent refusal fails at once
    response = staff_client.post(f"/staff/outbox/{message_id}/resend", data={})
    assert response.status_code == 400
    assert _reload(message_id).status == "failed"


def test_outbox_pages_are_for_staff_only(app, client, member_client):
    message_id = _queue().id
    db.session.commit()
    assert member_client.get("/staff/outbox").status_code == 403
    assert member_client.get(f"/staff/outbox/{message_id}").status_code == 403


def test_two_senders_never_send_the_same_message(app, smtp):
    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    app.config["MAIL_CLAIM_BATCH"] = 3
    ids = [_queue(f"member{i}@example.org").id for i in range(40)]
    db.session.commit()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            with app.app_context():
                barrier.wait()
                deliver_due()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    counts = smtp.handler.count_by_message_id()
    assert len(counts) == 40 and set(counts.values()) == {1}
    assert smtp.handler.attempts == 40
    statuses = db.session.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(ids))).all()
    assert set(statuses) == {"sent"}


def test_message_left_sending_by_a_dead_worker_is_reclaimed(app, smtp):
    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    message_id = _queue().id
    db.session.commit()
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status="sending", locked_by="dead-worker", locked_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    assert sweep()["sent"] == 0  # a recent lock belongs to a worker that may still be sending
    with time_machine.travel(utcnow() + timedelta(minutes=10), tick=False):
        assert sweep()["sent"] == 1
    assert _reload(message_id).status == "sent"
    assert len(smtp.handler.accepted) == 1


def test_marketing_email_carries_unsubscribe_headers_and_skips_non_consenting(app, smtp):
    yes = make_contact("yes@example.org", email_consent=True)
    make_contact("no@example.org", email_consent=False)
    assert queue_email("no@example.org", "membership_lapsed", {}, marketing=True) is None
    assert queue_email(yes.email, "membership_lapsed", {}, contact_id=yes.id, marketing=True) is not None
    db.session.commit()
    assert len(smtp.handler.accepted) == 1
    received = smtp.handler.accepted[0]
    assert received["To"] == "yes@example.org"
    assert received["List-Unsubscribe"].startswith("<http://crm.test/email/unsubscribe/")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = received.get_payload()[0].get_payload(decode=True).decode()
    assert "Stop these emails: http://crm.test/email/unsubscribe/" in text


def test_transactional_email_has_no_unsubscribe_header(app, smtp):
    _queue()
    db.session.commit()
    assert smtp.handler.accepted[0]["List-Unsubscribe"] is None


def test_each_message_of_a_batch_arrives_whole_with_its_own_subject_parts_and_boundary(app, smtp):
    """Messages of one delivery share their parsed MIME headers (crm.email.sender): each must
    still arrive as itself, a Spanish subject encoded and read back whole."""
    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    subjects = [
        "Informe de la delegación: ¿qué vimos?",
        "Delegation report",
        "Informe de la delegación: ¿qué vimos?",
    ]
    for n, subject in enumerate(subjects):
        _queue(f"reader{n}@example.org", subject=subject)
    db.session.commit()
    assert deliver_due()["sent"] == 3

    received = sorted(smtp.handler.accepted, key=lambda m: str(m["To"]))
    assert [str(m["To"]) for m in received] == [f"reader{n}@example.org" for n in range(3)]
    assert [str(make_header(decode_header(m["Subject"]))) for m in received] == subjects
    assert len({m.get_boundary() for m in received}) == 3
    assert len({str(m["Message-ID"]) for m in received}) == 3
    for message in received:
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.get_payload()] == ["text/plain", "text/html"]
        assert "Ana" in message.get_payload()[0].get_payload(decode=True).decode()
