"""What the journeys' people do often: sign in (with the staff second factor), read their email."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from tests.browser.journey import Journey

#: A URL in an email body that points at this app.
LINK_RE = r"(https?://127\.0\.0\.1:\d+/\S+)"


def totp_code(secret: str) -> str:
    """The current code, waiting for the next time step when the current one may have been used
    (codes are single-use) or is about to expire."""
    totp = pyotp.TOTP(secret)
    remaining = totp.interval - (time.time() % totp.interval)
    if remaining < 3:
        time.sleep(remaining + 0.2)
    return totp.now()


_last_step: dict[str, int] = {}


def fresh_totp_code(secret: str) -> str:
    """A code for a time step not used before in this run (the app accepts each step once)."""
    totp = pyotp.TOTP(secret)
    step = int(time.time() // totp.interval)
    if _last_step.get(secret) == step:
        time.sleep(totp.interval - (time.time() % totp.interval) + 0.2)
    code = totp_code(secret)
    _last_step[secret] = int(time.time() // totp.interval)
    return code


def sign_in(
    trip: Journey, email: str, password: str, totp_secret: str | None = None, check: bool = False
) -> None:
    """Sign in through /login; staff then give their code. With `check`, each page is checked."""
    trip.goto("/login")
    if check:
        trip.check("sign in")
    page = trip.page
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    trip.follow(page.locator("main").get_by_role("button", name=re.compile("^Sign in$", re.I)))
    if totp_secret:
        code_field = page.get_by_label("Security code")
        code_field.wait_for()
        if check:
            trip.check("second factor")
        code_field.fill(fresh_totp_code(totp_secret))
        trip.follow(page.locator("main").get_by_role("button").first)
    assert "/login" not in page.url, f"still on the sign-in page: {trip.text()[:300]}"


def latest_email(trip: Journey, to: str, kind: str, timeout: float = 10.0) -> str:
    """The body of the newest `kind` email to `to` in the outbox, waiting for it to be queued."""
    from crm.email.models import OutboxMessage
    from tests.sent_mail import sent_text

    deadline = time.monotonic() + timeout
    while True:
        with trip.live.db() as session:
            row = session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.to_email == to.lower(), OutboxMessage.kind == kind)
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            )
            body = sent_text(row) if row is not None else ""
        if body:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} email to {to} in the outbox")
        time.sleep(0.2)


def link_in(body: str, path_fragment: str = "") -> str:
    for url in re.findall(LINK_RE, body):
        if path_fragment in url:
            return url.rstrip(".,)>")
    raise AssertionError(f"no link containing {path_fragment!r} in:\n{body}")


_hashes: dict[str, str] = {}


def make_member(
    trip: Journey,
    email: str,
    *,
    status: str = "active",
    plan_slug: str = "standard-yearly",
    paid_days: int = 165,
    auto_renew: bool = True,
    password: str = "demo-password-2026",
    postcode: str = "BS1 4DJ",
) -> int:
    """A member in `status` (like the demo's), made in the database: a journey's own person,
    so that the desktop and phone runs never share one. Returns the contact id."""
    from datetime import timedelta

    from crm.accounts.models import User
    from crm.accounts.passwords import hash_password
    from crm.billing.models import Payment
    from crm.contacts.models import Contact
    from crm.core.types import utcnow
    from crm.memberships.models import Membership, MembershipEvent, Plan

    if password not in _hashes:
        _hashes[password] = hash_password(password)
    now = utcnow().replace(microsecond=0)
    with trip.live.db() as session:
        plan = session.scalar(select(Plan).where(Plan.slug == plan_slug))
        assert plan is not None
        contact = Contact(
            email=email,
            title="Mr",
            first_name="Tomás",
            last_name="Baker",
            address_line1="4 Demo Street",
            town="Bristol",
            postcode=postcode,
            country="GB",
            source="test",
        )
        session.add(contact)
        session.flush()
        contact.member_number = f"T{contact.id:06d}"
        session.add(User(contact=contact, role="member", password_hash=_hashes[password]))
        paid_through = now + timedelta(days=paid_days)
        start = paid_through - timedelta(days=365)
        membership = Membership(
            contact=contact,
            plan=plan,
            status=status,
            joined_at=start - timedelta(days=400),
            current_period_start=start,
            paid_through=paid_through,
            auto_renew=auto_renew,
        )
        if status == "lapsed":
            membership.ended_at = paid_through + timedelta(days=30)
        session.add(membership)
        session.flush()
        session.add(
            MembershipEvent(membership=membership, from_status=None, to_status="active", reason="joined")
        )
        if status != "active":
            session.add(
                MembershipEvent(membership=membership, from_status="active", to_status=status, reason=status)
            )
        session.add(
            Payment(
                contact=contact,
                membership_id=membership.id,
                kind="membership",
                amount=plan.amount,
                currency=plan.currency,
                status="paid",
                method="card",
                paid_at=start,
            )
        )
        session.commit()
        return contact.id


def make_staff(trip: Journey, email: str, role: str, password: str = "demo-password-2026") -> str:
    """A staff account with the second factor set up, like the demo's; returns its TOTP secret.

    Each run gets its own account (and secret), because a TOTP code works once: two runs
    signing in as one person within 30 seconds would have to wait for the next code.
    """
    from crm.accounts.models import User
    from crm.accounts.passwords import hash_password
    from crm.contacts.models import Contact

    if password not in _hashes:
        _hashes[password] = hash_password(password)
    secret = pyotp.random_base32()
    with trip.live.db() as session:
        contact = Contact(email=email, first_name="Staff", last_name=role.capitalize(), source="test")
        session.add(contact)
        session.flush()
        session.add(
            User(
                contact=contact,
                role=role,
                password_hash=_hashes[password],
                totp_secret=secret,
                totp_enabled=True,
            )
        )
        session.commit()
    return secret


def saved_audience_and_draft(trip: Journey) -> tuple[int, int]:
    """A saved audience (everyone who wants news by email) and a draft to it, as staff save them."""
    import uuid

    from crm.audiences import services as audiences
    from crm.campaigns import services

    tag = uuid.uuid4().hex[:6]
    with trip.live.db() as session:
        audience = audiences.save_audience(f"News by email {tag}", {"consent": ["email:news"]}, actor=None)
        campaign = services.save_draft(None, subject=f"Delegation report {tag}", preheader="What we saw",
                                       body="We **met** them.", purpose="news", audience_id=audience.id,
                                       post_id=None, actor=None)  # fmt: skip
        session.commit()
        return audience.id, campaign.id


def confirm_campaign(trip: Journey, campaign_id: int) -> None:
    """Staff confirm the number the confirmation page shows."""
    from crm.campaigns import services
    from crm.campaigns.models import Campaign

    with trip.live.db() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        services.confirm_send(
            campaign, count_seen=services.recipient_count(campaign), when_uk=None, actor=None
        )
        session.commit()
