"""The attacker's checklist: a small world of two members, staff of every role and their data.

`world` seeds member A (Ana) and member B (Ben) with memberships and payments, an editor, a staff
user and an admin, a post, a page, an outbox message and a Gift Aid claim, and gives a signed-in
test client for each person. `snapshot()` hashes every table, so "no change" is one assert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from crm.audiences import services as audience_services
from crm.billing.models import GiftAidClaim, Payment
from crm.campaigns import services as campaign_services
from crm.contacts.models import Note
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from crm.news.models import Page, Post
from crm.staff.search import ensure_search_indexes
from tests.fixtures import make_user, sign_in_as
from tests.memberships.factories import make_plans

#: Tables whose rows a read may add: the audit trail records who looked at what.
READ_LOG_TABLES = {"audit_event"}


@pytest.fixture(autouse=True)
def _search_index(app: Flask) -> None:
    ensure_search_indexes(db.engine)


@dataclass
class World:
    app: Flask
    users: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def client(self, who: str | None) -> FlaskClient:
        """A new browser: anonymous (None) or signed in as 'a', 'b', 'editor', 'staff', 'admin'."""
        client = self.app.test_client()
        if who is not None:
            sign_in_as(client, self.users[who])
        return client


def _paid(contact_id: int, membership_id: int, amount: int, n: int) -> Payment:
    payment = Payment(
        contact_id=contact_id,
        membership_id=membership_id,
        amount=amount,
        currency="gbp",
        status="paid",
        method="card",
        paid_at=utcnow() - timedelta(days=n),
        stripe_payment_intent_id=f"pi_world_{contact_id}_{n}",
        stripe_charge_id=f"ch_world_{contact_id}_{n}",
        gift_aid_eligible=True,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


@pytest.fixture
def world(app: Flask) -> World:
    plans = make_plans()
    w = World(app)
    w.users["a"] = make_user("ana@example.org", "member", first_name="Ana", last_name="Torres")
    w.users["b"] = make_user(
        "ben@example.org", "member", first_name="Ben", last_name="Okafor", postcode="M1 1AA"
    )
    w.users["editor"] = make_user("editor@example.org", "editor", first_name="Eddie", last_name="Editor")
    w.users["staff"] = make_user("staff@example.org", "staff", first_name="Sasha", last_name="Staff")
    w.users["admin"] = make_user("admin@example.org", "admin", first_name="Alex", last_name="Admin")
    plan = plans["standard-yearly"]
    now = utcnow()
    for who in ("a", "b"):
        user = w.users[who]
        user.contact.member_number = f"M{user.contact_id:06d}"
        membership = Membership(
            contact_id=user.contact_id,
            plan_id=plan.id,
            status="active",
            joined_at=now - timedelta(days=40),
            current_period_start=now - timedelta(days=40),
            paid_through=now + timedelta(days=325),
            auto_renew=False,
        )
        db.session.add(membership)
        db.session.flush()
        w.ids[f"{who}_contact"] = user.contact_id
        w.ids[f"{who}_membership"] = membership.id
        w.ids[f"{who}_payment"] = _paid(user.contact_id, membership.id, plan.amount, 40).id
    db.session.add(
        Note(contact_id=w.users["b"].contact_id, author_id=w.users["staff"].id, body="Phoned Ben.")
    )
    post = Post(
        slug="members-briefing",
        title="Members briefing",
        summary="s",
        body_markdown="Hello",
        body_html="<p>Hello</p>",
        visibility="members",
        status="published",
        published_at=now,
    )
    page = Page(slug="privacy", title="Privacy notice", body_markdown="Privacy", body_html="<p>Privacy</p>")
    claim = GiftAidClaim(period_from=now - timedelta(days=400), period_to=now - timedelta(days=300))
    db.session.add_all([post, page, claim])
    db.session.flush()
    message = OutboxMessage(
        to_email="ben@example.org",
        contact_id=w.users["b"].contact_id,
        kind="receipt",
        subject="Your receipt",
        body_text="Thank you",
        status="sent",
    )
    db.session.add(message)
    audience = audience_services.save_audience("Everyone", {}, actor=w.users["staff"])
    campaign = campaign_services.save_draft(None, subject="Hello", preheader="", body="Hi", purpose="news",
                                            audience_id=audience.id, post_id=None, actor=w.users["staff"])  # fmt: skip
    db.session.commit()
    w.ids.update(_events_world())
    w.ids.update(audience=audience.id, campaign=campaign.id)
    w.ids.update(
        post=post.id,
        post_slug=post.slug,
        page=page.id,
        page_slug=page.slug,
        claim=claim.id,
        message=message.id,
        plan=plan.id,
    )
    return w


def _events_world() -> dict[str, object]:
    """An event with a booking, held as an AGM with one motion (the events domain's URLs)."""
    from crm.events import agm, services

    start = utcnow() + timedelta(days=5)
    event = services.save_event(None, services.EventData(
        title="Report-back", description="Hi", starts_at=start, ends_at=start + timedelta(hours=2), place="Hall",
        online_link="", capacity=10, visibility="public", member_price=0, other_price=0, published=True))  # fmt: skip
    booking = services.book(event, email="ben@example.org", names=["Ben"], contact_id=None, is_member=False)
    meeting = agm.hold_agm(event)
    agm.set_motions_open(meeting, True)
    motion = agm.Motion(
        meeting_id=meeting.event_id, title="A motion", text_markdown="x", text_html="<p>x</p>"
    )
    db.session.add(motion)
    db.session.commit()
    return {"event": event.id, "event_slug": event.slug, "booking": booking.id,
            "place": booking.attendees[0].id, "motion": motion.id}  # fmt: skip


def url_values(world: World, rule: Any, *, owner: str = "b") -> dict[str, Any]:
    """Real ids for a rule's URL parameters (another member's, `owner`, where there is a choice)."""
    values = {
        "contact_id": world.ids[f"{owner}_contact"],
        "payment_id": world.ids[f"{owner}_payment"],
        "post_id": world.ids["post"],
        "page_id": world.ids["page"],
        "plan_id": world.ids["plan"],
        "claim_id": world.ids["claim"],
        "message_id": world.ids["message"],
        "slug": world.ids["post_slug"]
        if rule.rule.startswith("/news")
        else (world.ids["event_slug"] if rule.rule.startswith("/events") else world.ids["page_slug"]),
        "event_id": world.ids["event"],
        "booking_id": world.ids["booking"],
        "place_id": world.ids["place"],
        "motion_id": world.ids["motion"],
        "calendar": "google",
        "audience_id": world.ids["audience"],
        "campaign_id": world.ids["campaign"],
        "token": "not-a-real-token-" + "x" * 20,
        "filename": "css/site.css",
        "extension": "json",
        "code": "es",  # /language/<code>, the language switch
    }
    return {name: values[name] for name in rule.arguments}


def build_url(world: World, rule: Any, *, owner: str = "b") -> str:
    with world.app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **url_values(world, rule, owner=owner))


#: POST routes that cannot carry a CSRF token, each authenticated another way: Stripe's signed
#: webhook, and RFC 8058 one-click unsubscribe (a mail client POSTs it; the unguessable token is the key).
CSRF_EXEMPT_RULES = {"/stripe/webhook", "/email/unsubscribe/<token>/one-click", "/email/webhooks/mailgun"}


def state_changing_rules(app: Flask) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules() if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    return sorted((r for r in rules if r.rule not in CSRF_EXEMPT_RULES), key=lambda r: r.rule)


def get_rules(app: Flask) -> list[Any]:
    return sorted(
        (r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"),
        key=lambda r: r.rule,
    )


def snapshot(exclude: set[str] = READ_LOG_TABLES) -> dict[str, str]:
    """A hash of every row of every table (and the search index), table by table."""
    db.session.expire_all()
    out: dict[str, str] = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in exclude:
                continue
            rows = conn.execute(select(table)).all()
            digest = hashlib.sha256(repr(sorted(repr(tuple(r)) for r in rows)).encode()).hexdigest()
            out[table.name] = f"{len(rows)}:{digest[:16]}"
    return out


def count_rows(table_name: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text(f'SELECT count(*) FROM "{table_name}"')).scalar_one()  # noqa: S608


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]
