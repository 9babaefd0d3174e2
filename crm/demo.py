"""`flask crm demo`: demo plans, staff, members in every state and news. Running it twice is safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import select

from crm.accounts.models import User
from crm.accounts.passwords import hash_password
from crm.billing.models import PaymentKind, PaymentMethod
from crm.billing.offline import record_offline_payment
from crm.billing.services import record_online_payment
from crm.cli import crm_cli
from crm.contacts import consent
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.contacts.sources import ContactSource
from crm.core.markup import render_markdown
from crm.core.types import utcnow
from crm.demo_content import PAGES, PLANS_ES, POSTS, SPANISH_ONLY
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import MembershipStatus, Plan
from crm.news.models import Page, Post, PostStatus

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (demo data, printed by make run)
#: Fixed so that the printed sign-in works every time; demo only.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105

PLANS = [
    ("standard-yearly", "Standard (yearly)", "Full membership, renewed each year.", 3600, "year", 1),
    (
        "concession-yearly",
        "Concession (yearly)",
        "For students, unwaged and retired supporters.",
        1200,
        "year",
        2,
    ),
    ("monthly", "Monthly", "Full membership paid monthly.", 400, "month", 3),
    (
        "organisation-yearly",
        "Organisation (yearly)",
        "For trade union branches and organisations.",
        12000,
        "year",
        4,
    ),
    ("life", "Life", "A single payment, member for life.", 50000, "lifetime", 5),
    (
        "joint-yearly",
        "Joint (two adults at one address)",
        "Two adults at one address, one payment: each has their own sign-in and emails.",
        5400,
        "year",
        6,
    ),
]
#: Plans for two adults at one address (the join form asks for the second adult).
JOINT_PLANS = {"joint-yearly"}

# email, title, first, last, postcode, plan slug, status, days since join, days to paid-through, auto-renew
MEMBERS = [
    (
        "member@example.org",
        "Ms",
        "Ana",
        "Torres",
        "N1 9GU",
        "standard-yearly",
        MembershipStatus.ACTIVE,
        200,
        165,
        True,
    ),
    (
        "monthly@example.org",
        "Mr",
        "Daniel",
        "Okafor",
        "M1 1AE",
        "monthly",
        MembershipStatus.ACTIVE,
        90,
        20,
        True,
    ),
    (
        "concession@example.org",
        "Mx",
        "Sam",
        "Rivera",
        "EH1 1YZ",
        "concession-yearly",
        MembershipStatus.ACTIVE,
        340,
        25,
        False,
    ),
    (
        "grace@example.org",
        "Mrs",
        "Helen",
        "Price",
        "CF10 1EP",
        "standard-yearly",
        MembershipStatus.GRACE,
        400,
        -5,
        True,
    ),
    (
        "lapsed@example.org",
        "Mr",
        "Tom",
        "Baker",
        "BS1 4DJ",
        "standard-yearly",
        MembershipStatus.LAPSED,
        800,
        -60,
        False,
    ),
    (
        "life@example.org",
        "Dr",
        "Lucía",
        "Mejía",
        "SW1A 1AA",
        "life",
        MembershipStatus.ACTIVE,
        1200,
        None,
        False,
    ),
    (
        "branch@example.org",
        "",
        "Northfield",
        "Trades Council",
        "L1 8JQ",
        "organisation-yearly",
        MembershipStatus.ACTIVE,
        500,
        230,
        True,
    ),
]

#: A joint couple (two adults at one address on the joint plan): the payer, then the second
#: adult, whose membership follows the payer's. Made through the lifecycle, as a join would.
# email, title, first, last
JOINT_COUPLE = (
    ("joint@example.org", "Ms", "Priya", "Shah"),
    ("joint.partner@example.org", "Mr", "Jamie", "Shah"),
)
JOINT_POSTCODE = "E8 1DY"

#: Demo members who read the site and their email in Spanish.
SPANISH_SPEAKERS = {"life@example.org"}

STAFF = [
    ("admin@example.org", "admin", "Alex", "Admin"),
    ("staff@example.org", "staff", "Sasha", "Staff"),
    ("editor@example.org", "editor", "Eddie", "Editor"),
]


def _upsert_plans() -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for slug, name, description, amount, interval, order in PLANS:
        plan = db.session.scalar(select(Plan).where(Plan.slug == slug))
        if plan is None:
            plan = Plan(
                slug=slug,
                name=name,
                description=description,
                amount=amount,
                interval=interval,
                display_order=order,
                currency="gbp",
                gift_aid_eligible=slug != "organisation-yearly",
                joint=slug in JOINT_PLANS,
            )
            db.session.add(plan)
        if not plan.name_es and slug in PLANS_ES:
            plan.name_es, plan.description_es = PLANS_ES[slug]
        plans[slug] = plan
    db.session.flush()
    return plans


def _contact(email: str, title: str, first: str, last: str, postcode: str) -> Contact:
    contact = db.session.scalar(select(Contact).where(Contact.email == email))
    if contact is None:
        contact = Contact(
            email=email,
            title=title,
            first_name=first,
            last_name=last,
            address_line1="1 Demo Street",
            town="London",
            postcode=postcode,
            country="GB",
            source=ContactSource.DEMO,
        )
        db.session.add(contact)
        db.session.flush()
        consent.record_consent(contact, "email", "news", True, source="staff", wording="Demo data")
    return contact


def _user(contact: Contact, role: str) -> User:
    if contact.user is None:
        user = User(contact=contact, role=role, password_hash=hash_password(DEMO_PASSWORD))
        if role in ("staff", "admin", "editor"):
            user.totp_secret = DEMO_TOTP_SECRET
            user.totp_enabled = True
        db.session.add(user)
        db.session.flush()
    return contact.user  # type: ignore[return-value]  # just flushed: the relationship is set


def _membership(
    contact: Contact, plan: Plan, status: str, joined_days: int, paid_days: int | None, auto_renew: bool
) -> None:
    """The member's history made as the app makes it, through the lifecycle: a checkout paid by
    card (or, for life, a cheque staff recorded), then the renewal that pays up to today's period,
    then a missed renewal (grace) and a lapse. Events are dated today; the periods are the listed ones."""
    if contact.memberships:
        return
    now = datetime.now(UTC).replace(microsecond=0)
    joined = now - timedelta(days=joined_days)
    if paid_days is None:  # life: one cheque, member ever since
        record_offline_payment(contact, plan, amount=plan.amount, method=PaymentMethod.CHEQUE, paid_at=joined,
                               reference="demo life membership", actor=None)  # fmt: skip
        return
    paid_through = now + timedelta(days=paid_days)
    period = {"month": timedelta(days=30), "year": timedelta(days=365)}[plan.interval]
    start = max(paid_through - period, joined)
    membership = lifecycle.start_pending(contact, plan, auto_renew=auto_renew and plan.recurring)
    if start > joined:
        lifecycle.activate_from_payment(
            membership, period_start=joined, paid_through=start, amount=plan.amount,
            reason="demo data: joined, paid by card",
        )  # fmt: skip
    lifecycle.activate_from_payment(
        membership, period_start=start, paid_through=paid_through, amount=plan.amount,
        reason="demo data: paid by card" if start == joined else "demo data: renewed by card",
    )  # fmt: skip
    # The period the member is in, paid by card: recorded as billing records every card payment.
    record_online_payment(
        contact_id=contact.id, membership_id=membership.id, kind=PaymentKind.MEMBERSHIP, amount=plan.amount,
        currency=plan.currency, paid_at=start, gift_aid_eligible=plan.gift_aid_eligible,
    )  # fmt: skip
    if status in (MembershipStatus.GRACE, MembershipStatus.LAPSED):
        lifecycle.enter_grace(membership, reason="demo data: paid-through date passed without renewal")
    if status == MembershipStatus.LAPSED:
        lifecycle.lapse(membership, reason="demo data: grace period ended without payment")


def _joint_couple(plan: Plan) -> None:
    """Named on a pending joint membership, then paid (a cheque): the lifecycle opens the second
    adult's row that follows the payer's. Their sign-ins exist first, so no welcome is sent."""
    payer, partner = (
        _contact(email, title, first, last, JOINT_POSTCODE) for email, title, first, last in JOINT_COUPLE
    )
    for contact in (payer, partner):
        _user(contact, "member")
    if payer.memberships or partner.memberships:
        return
    lifecycle.name_partner(lifecycle.start_pending(payer, plan, auto_renew=False), partner)
    record_offline_payment(payer, plan, amount=plan.amount, method=PaymentMethod.CHEQUE, paid_at=utcnow() - timedelta(days=30),
                           reference="demo joint membership", actor=None)  # fmt: skip


def load_demo() -> dict[str, int]:
    plans = _upsert_plans()
    for slug, title, order, body, es_title, es_body in PAGES:
        if db.session.scalar(select(Page).where(Page.slug == slug)) is None:
            db.session.add(
                Page(
                    slug=slug,
                    title=title,
                    nav_order=order,
                    body_markdown=body,
                    body_html=render_markdown(body),
                    show_in_nav=slug != "gift-aid",
                    language="en",
                    translated_title=es_title,
                    translated_body_markdown=es_body,
                    translated_body_html=render_markdown(es_body),
                )
            )
    for slug, title, visibility, days_ago, summary, body, es_title, es_summary, es_body in POSTS:
        if db.session.scalar(select(Post).where(Post.slug == slug)) is None:
            db.session.add(
                Post(
                    slug=slug,
                    title=title,
                    visibility=visibility,
                    status=PostStatus.PUBLISHED,
                    published_at=utcnow() - timedelta(days=days_ago),
                    summary=summary,
                    body_markdown=body,
                    body_html=render_markdown(body),
                    language="es" if slug in SPANISH_ONLY else "en",
                    translated_title=es_title,
                    translated_summary=es_summary,
                    translated_body_markdown=es_body,
                    translated_body_html=render_markdown(es_body) if es_body else "",
                )
            )
    for email, role, first, last in STAFF:
        _user(_contact(email, "", first, last, "N1 0AA"), role)
    for email, title, first, last, postcode, slug, status, joined, paid, renew in MEMBERS:
        contact = _contact(email, title, first, last, postcode)
        if email in SPANISH_SPEAKERS:
            contact.preferred_language = "es"
        _user(contact, "member")
        _membership(contact, plans[slug], status, joined, paid, renew)
        if email == "member@example.org" and not db.session.scalar(
            select(GiftAidDeclaration).where(GiftAidDeclaration.contact_id == contact.id)
        ):
            db.session.add(
                GiftAidDeclaration(
                    contact_id=contact.id,
                    source="demo",
                    house="1",
                    postcode=postcode,
                    # The HMRC wording covers the past four years as well as the future.
                    valid_from=utcnow() - timedelta(days=4 * 365),
                    wording="demo declaration",
                )
            )
    _joint_couple(plans["joint-yearly"])
    from crm.events.demo import load_demo_events

    load_demo_events()
    db.session.commit()
    return {"plans": len(plans), "members": len(MEMBERS) + len(JOINT_COUPLE), "staff": len(STAFF)}


def demo_logins() -> str:
    lines = [f"Demo sign-ins (password for all: {DEMO_PASSWORD})"]
    for email, role, _first, _last in STAFF:
        lines.append(f"  {role:<8} {email}")
    for email, *_rest, status, _j, _p, _r in MEMBERS:
        lines.append(f"  member   {email} ({status})")
    payer, partner = JOINT_COUPLE
    lines.append(f"  member   {payer[0]} (active, joint: pays for {partner[2]} {partner[3]})")
    lines.append(f"  member   {partner[0]} (active, joint: follows {payer[0]})")
    lines.append(
        f"  Staff second factor: TOTP secret {DEMO_TOTP_SECRET} "
        "(or run: flask --app wsgi crm totp-code admin@example.org)"
    )
    return "\n".join(lines)


@crm_cli.command("demo")
@click.option(
    "--quiet", is_flag=True, help="Leave out the sign-ins (make run prints them as the server starts)."
)
def demo_command(quiet: bool) -> None:
    """Load the demo plans, staff, members and news (idempotent)."""
    counts = load_demo()
    click.echo(
        f"Demo data ready: {counts['plans']} plans, {counts['members']} members, {counts['staff']} staff."
    )
    if not quiet:
        click.echo(demo_logins())
