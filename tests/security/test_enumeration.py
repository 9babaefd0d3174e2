"""Control 6: no account enumeration, by answer or by time (a dummy argon2 check for unknown emails)."""

from __future__ import annotations

import gc

import pytest

from tests.security.helpers import login, median_times, outbox, without_csrf


@pytest.fixture
def app_config() -> dict[str, object]:
    # A real argon2 cost (the testing configuration hashes in microseconds): ~18 ms a check, so a
    # login that skipped the dummy check for an unknown email would answer 2-3x faster than one
    # for a known email, which every round below would see. Production strength (~130 ms here,
    # 8x this) only makes each round slower; tests/accounts/test_sign_in.py proves its parameters.
    return {
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "PASSWORD_HASH_TIME_COST": 2,
        "PASSWORD_HASH_MEMORY_COST": 16384,
        "PASSWORD_HASH_PARALLELISM": 1,
    }


def _timed_same(calls, tries=8, rounds=3):  # type: ignore[no-untyped-def]
    """Medians within 20 %. A real gap (no dummy argon2 check) fails every round; a burst of noise
    on a shared 2-core CI machine gets up to two more rounds."""
    seen = []
    for _ in range(rounds):
        gc.disable()
        try:
            medians = median_times(calls, tries)
        finally:
            gc.enable()
        known, unknown = medians.values()
        seen.append(medians)
        if abs(known - unknown) <= 0.2 * max(known, unknown):
            return
    raise AssertionError(f"known and unknown emails take different times: {seen}")


def test_login_with_unknown_email_and_wrong_password_look_and_take_the_same(app, member):
    known = login(app.test_client(), "member@example.org", "wrong password!!")
    unknown = login(app.test_client(), "nobody@example.org", "wrong password!!")
    assert known.status_code == unknown.status_code == 200
    assert without_csrf(known.get_data(as_text=True)).replace("member@", "X@") == without_csrf(
        unknown.get_data(as_text=True)
    ).replace("nobody@", "X@")
    client = app.test_client()
    _timed_same(
        {
            "known": lambda: login(client, "member@example.org", "wrong password!!"),
            "unknown": lambda: login(client, "nobody@example.org", "wrong password!!"),
        }
    )


def test_forgot_password_answers_the_same_for_known_and_unknown_email(app, member):
    client = app.test_client()
    known = client.post("/password/reset", data={"email": "member@example.org"}).get_data(as_text=True)
    unknown = client.post("/password/reset", data={"email": "nobody@example.org"}).get_data(as_text=True)
    assert without_csrf(known).replace("member@", "X@") == without_csrf(unknown).replace("nobody@", "X@")
    _timed_same(
        {
            "known": lambda: client.post("/password/reset", data={"email": "member@example.org"}),
            "unknown": lambda: client.post("/password/reset", data={"email": "nobody@example.org"}),
        }
    )


# --- issue 26 item 17 (control #38): a slow mail server must not tell known addresses apart --------------

#: How long the held mail server keeps a message at most: far beyond what any request here takes,
#: even on a loaded machine, so only a request that sends its own mail (and waits) reaches it.
HOLD_SECONDS = 30.0


@pytest.fixture
def held_smtp():  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback that holds every message at DATA until the test lets go (or
    HOLD_SECONDS pass). While it holds, nothing is accepted: a request that answers then did not
    wait for the mail server, however slow it is, so its time cannot tell a known address."""
    import asyncio
    import threading

    from tests.email.smtp_server import ScriptedHandler, SMTPServer

    class HeldHandler(ScriptedHandler):
        def __init__(self) -> None:
            super().__init__()
            self.gate = threading.Event()

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, HOLD_SECONDS)
            return await super().handle_DATA(server, session, envelope)

    smtp = SMTPServer()
    smtp.handler = HeldHandler()
    smtp.controller.handler = smtp.handler
    with smtp:
        try:
            yield smtp
        finally:
            smtp.handler.gate.set()


def _mail_without_redis(app, smtp) -> None:  # type: ignore[no-untyped-def]
    """SMTP to the held server, no Redis: mail a request causes goes on the process's mail thread.
    The client's timeout outlasts the hold, so a request sending inline would wait it out."""
    app.config.update(
        smtp.app_config(),
        MAIL_TIMEOUT=2 * HOLD_SECONDS,
        MAIL_BACKEND=None,
        REDIS_URL=None,
        MAIL_SEND_IN_BACKGROUND=True,
    )


@pytest.mark.parametrize(
    ("path", "kind"), [("/password/reset", "reset_password"), ("/login/link", "login_link")]
)
def test_with_slow_smtp_and_no_redis_known_and_unknown_addresses_answer_before_any_mail_is_sent(
    app, member, held_smtp, path, kind
):
    from crm.email.dispatch import wait_for_background_mail

    _mail_without_redis(app, held_smtp)
    client = app.test_client()
    try:
        # Three emails an hour per account (EMAILS_PER_HOUR): each known try causes one.
        for _ in range(3):
            for email in ("member@example.org", "nobody@example.org"):
                assert client.post(path, data={"email": email}).status_code == 200
                # Answered while the mail server still held everything: no SMTP inside the request.
                assert held_smtp.handler.attempts == 0, email
    finally:
        held_smtp.handler.gate.set()
        wait_for_background_mail()
    assert held_smtp.handler.attempts == 3 and all(
        m["To"] == "member@example.org" for m in held_smtp.handler.accepted
    )
    from email.header import decode_header, make_header

    sent_subjects = {str(make_header(decode_header(m["Subject"]))) for m in held_smtp.handler.accepted}
    assert sent_subjects == {m.subject for m in outbox(kind)}  # (encoded words: the name has an í)


def test_with_slow_smtp_and_no_redis_a_webhook_answers_before_its_emails_are_sent(
    app, held_smtp, stripe_sandbox
):
    """Issue 26 item 21 (first half): the welcome and receipt a payment causes leave after the
    webhook's answer, so a slow mail server never holds Stripe's delivery (or a thread) waiting."""
    from sqlalchemy import select

    from crm.email.dispatch import wait_for_background_mail
    from crm.extensions import db
    from crm.memberships.models import Membership
    from tests.join.test_join_form import form
    from tests.memberships.factories import make_plans
    from tests.stripe_fixtures import deliver_webhooks

    plans = make_plans()
    db.session.commit()
    client = app.test_client()
    assert client.post("/join", data=form(plans)).status_code == 303
    membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
    stripe_sandbox.pay(membership.stripe_checkout_session_id)
    _mail_without_redis(app, held_smtp)
    try:
        responses = deliver_webhooks(client)
        # Every delivery answered while the mail server held every message: none sent inline.
        accepted_while_held = held_smtp.handler.attempts
    finally:
        held_smtp.handler.gate.set()
        wait_for_background_mail()
    assert responses and all(r.status_code == 200 for r in responses)
    assert accepted_while_held == 0
    assert held_smtp.handler.attempts >= 2  # the welcome and the receipt went out, afterwards
