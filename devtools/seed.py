"""`python -m devtools.seed --contacts N`: realistic bulk data for benchmarks, inserted in batches.

A development tool, not a production command: `crm` knows nothing of it (it is not in `flask crm`).
The database is the one `CRM_ENV` (default development) and `DATABASE_URL` name."""

from __future__ import annotations

import os
import random
from datetime import timedelta
from typing import Any

import click
from flask.cli import ScriptInfo, with_appcontext
from sqlalchemy import func, insert, select

from crm.billing.models import Payment
from crm.contacts.consent_bulk import record_for_new_contacts
from crm.contacts.models import Contact, GiftAidDeclaration
from crm.contacts.sources import ContactSource
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle.facts import refresh_membership_status
from crm.memberships.models import Membership, Plan
from crm.news.models import Post
from crm.staff.search import batch_indexing

FIRST = (
    "Ana Ben Carla Daniel Elena Femi Grace Hugo Isabel Jamal Kate Luis Maya Nadia Omar Priya "
    "Quentin Rosa Sam Tomas Uma Victor Wen Ximena Yusuf Zoe"
).split()
LAST = (
    "Torres Smith Okafor Rivera Price Baker Mejia Khan Jones Garcia Williams Brown Taylor Patel "
    "Wilson Davies Evans Thomas Roberts Lopez Murphy Walsh Clarke Hughes Green Hall"
).split()
TOWNS = [
    ("London", "N1"),
    ("Manchester", "M1"),
    ("Leeds", "LS1"),
    ("Glasgow", "G1"),
    ("Cardiff", "CF10"),
    ("Bristol", "BS1"),
    ("Belfast", "BT1"),
    ("Leicester", "LE1"),
]
STATUS_WEIGHTS = [
    ("active", 70),
    ("grace", 5),
    ("lapsed", 15),
    ("cancelled", 4),
    ("pending", 3),
    ("suspended", 1),
    ("expired", 2),
]
BATCH = 5000


def _statuses(rng: random.Random, n: int) -> list[str]:
    names = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    return rng.choices(names, weights, k=n)


def seed(contacts: int, posts: int = 1000, seed_value: int = 2026) -> dict[str, int]:
    """Insert `contacts` contacts with memberships, payments and declarations, plus `posts` posts."""
    rng = random.Random(seed_value)
    now = utcnow().replace(microsecond=0)
    # A joint plan's membership names a second adult: the seed writes memberships for one.
    for_one = select(Plan).where(Plan.joint.is_(False)).order_by(Plan.id)
    plans = db.session.scalars(for_one).all()
    if not plans:
        from crm.demo import load_demo

        load_demo()
        plans = db.session.scalars(for_one).all()
    start_id = (db.session.scalar(select(func.max(Contact.id))) or 0) + 1
    membership_start = (db.session.scalar(select(func.max(Membership.id))) or 0) + 1
    counts = {"contacts": 0, "memberships": 0, "payments": 0, "declarations": 0, "posts": 0}
    for offset in range(0, contacts, BATCH):
        size = min(BATCH, contacts - offset)
        contact_rows: list[dict[str, Any]] = []
        membership_rows: list[dict[str, Any]] = []
        payment_rows: list[dict[str, Any]] = []
        declaration_rows: list[dict[str, Any]] = []
        statuses = _statuses(rng, size)
        for i in range(size):
            cid = start_id + offset + i
            first, last = rng.choice(FIRST), rng.choice(LAST)
            town, area = rng.choice(TOWNS)
            created = now - timedelta(days=rng.randint(0, 1100), seconds=rng.randint(0, 86399))
            contact_rows.append(
                {
                    "id": cid,
                    "email": f"{first.lower()}.{last.lower()}.{cid}@example.net",
                    "title": "",
                    "first_name": first,
                    "last_name": last,
                    "address_line1": f"{rng.randint(1, 250)} {rng.choice(LAST)} Road",
                    "address_line2": "",
                    "town": town,
                    "postcode": f"{area} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                    f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
                    "country": "GB",
                    "phone": "",
                    "email_consent": rng.random() < 0.6,
                    "source": ContactSource.SEED,
                    "member_number": f"M{cid:07d}",
                    "version": 1,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            plan = rng.choice(plans)
            status = statuses[i]
            mid = membership_start + offset + i
            period = timedelta(days=30 if plan.interval == "month" else 365)
            if plan.interval == "lifetime":
                paid_through = None
            elif status in ("active", "suspended"):
                paid_through = now + timedelta(days=rng.randint(1, period.days))
            elif status == "grace":
                paid_through = now - timedelta(days=rng.randint(1, 25))
            else:
                paid_through = now - timedelta(days=rng.randint(31, 700))
            membership_rows.append(
                {
                    "id": mid,
                    "contact_id": cid,
                    "plan_id": plan.id,
                    "status": status,
                    "joined_at": created,
                    "current_period_start": (paid_through - period) if paid_through else created,
                    "paid_through": paid_through,
                    "grace_until": (paid_through + timedelta(days=30))
                    if status == "grace" and paid_through
                    else None,
                    "auto_renew": plan.interval != "lifetime" and rng.random() < 0.7,
                    "complimentary": False,
                    "created_at": created,
                    "updated_at": created,
                    "pending_expires_at": now + timedelta(hours=12) if status == "pending" else None,
                }
            )
            if status != "pending":
                for _k in range(rng.randint(1, 3)):
                    paid_at = now - timedelta(days=rng.randint(0, 3 * 365))
                    payment_rows.append(
                        {
                            "contact_id": cid,
                            "membership_id": mid,
                            "kind": "membership",
                            "amount": plan.amount,
                            "currency": plan.currency,
                            "status": "paid",
                            "method": "card",
                            "reference": "",
                            "paid_at": paid_at,
                            "amount_refunded": 0,
                            "gift_aid_eligible": plan.gift_aid_eligible,
                            "failure_message": "",
                            "created_at": paid_at,
                        }
                    )
            if rng.random() < 0.35:
                declaration_rows.append(
                    {
                        "contact_id": cid,
                        "declared_at": created,
                        "valid_from": created - timedelta(days=4 * 365),
                        "wording": "seed",
                        "source": "seed",
                        "house": "1",
                        "postcode": contact_rows[-1]["postcode"],
                    }
                )
        with batch_indexing() as search:  # one search-index write per batch on SQLite, not one per row
            db.session.execute(insert(Contact), contact_rows)
            search.added.update(row["id"] for row in contact_rows)
            # Inside the batch, so SQLite's search trigger stands aside for the status fact too.
            db.session.execute(insert(Membership), membership_rows)
            refresh_membership_status(contact_ids=[row["contact_id"] for row in membership_rows])
        record_for_new_contacts(
            [(r["id"], "email", "news", True) for r in contact_rows if r["email_consent"]],
            source="seed",
            wording="seed",
            at=now,
        )  # noqa: E501
        if payment_rows:
            db.session.execute(insert(Payment), payment_rows)
        if declaration_rows:
            db.session.execute(insert(GiftAidDeclaration), declaration_rows)
        db.session.commit()
        counts["contacts"] += size
        counts["memberships"] += len(membership_rows)
        counts["payments"] += len(payment_rows)
        counts["declarations"] += len(declaration_rows)
    existing = db.session.scalar(select(func.count()).select_from(Post).where(Post.slug.like("bench-%")))
    post_rows = []
    for i in range(existing or 0, posts):
        published = now - timedelta(hours=i * 7)
        body = f"<p>Briefing number {i} from Serranía, with news from the regions.</p>"
        post_rows.append(
            {
                "slug": f"bench-{i}",
                "title": f"Update {i}: news from the regions",
                "summary": "A short update.",
                "body_markdown": body,
                "body_html": body,
                "visibility": "members" if i % 3 == 0 else "public",
                "status": "published",
                "published_at": published,
                "created_at": published,
                "updated_at": published,
            }
        )
    if post_rows:
        db.session.execute(insert(Post), post_rows)
        db.session.commit()
    counts["posts"] = len(post_rows)
    _reset_postgres_sequences()
    return counts


def _reset_postgres_sequences() -> None:
    if db.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for table in ("contact", "membership"):  # fixed table names, never input
        db.session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608  # nosec B608
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )
    db.session.commit()


@click.command("seed-bench")
@click.option("--contacts", type=click.IntRange(1, 5_000_000), default=1000, show_default=True)
@click.option("--posts", type=click.IntRange(0, 100_000), default=1000, show_default=True)
@with_appcontext
def seed_bench_command(contacts: int, posts: int) -> None:
    """Generate realistic contacts, memberships, payments, declarations and news posts."""
    import time

    started = time.perf_counter()
    counts = seed(contacts, posts)
    took = time.perf_counter() - started
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()) + f" in {took:.1f}s")


def main() -> None:
    """Run `seed-bench` against the app `CRM_ENV` configures."""
    from crm import create_app

    env = os.environ.get("CRM_ENV", "development")
    seed_bench_command(obj=ScriptInfo(create_app=lambda: create_app(env)))


if __name__ == "__main__":
    main()
