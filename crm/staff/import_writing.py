"""Importing members, second half: writing a chunk of validated rows with a few set-based
statements (contacts, memberships, Gift Aid declarations, notes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, bindparam, case, cast, func, insert, literal, select, update

from crm.contacts import consent as consents_module
from crm.contacts import consent_bulk
from crm.contacts.models import Contact, GiftAidDeclaration, Note
from crm.contacts.sources import ContactSource
from crm.core.database import bulk_write_settings
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.lifecycle import member_number_for
from crm.memberships.lifecycle.imported import record_imported_statuses
from crm.memberships.models import CURRENT_STATUSES, Membership
from crm.staff.import_parsing import _NEW_CONTACT_DEFAULTS, CONTACT_FIELDS, CleanRow, ImportReport
from crm.staff.search import batch_indexing

_CONTACT_COLUMNS = (Contact.id, Contact.email, *(getattr(Contact, f) for f in CONTACT_FIELDS),
                    *(getattr(Contact, c) for c in consents_module.NEWS_COLUMNS), Contact.member_number)  # fmt: skip


def _bulk_update(model: Any, keys: list[str], rows: list[dict[str, Any]], bump_version: bool = False) -> None:
    """UPDATE ... WHERE id = :b_id, once for many rows (executemany)."""
    if not rows:
        return
    table = model.__table__
    values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in keys}
    if bump_version:
        values["version"] = table.c.version + 1
    statement = update(table).where(table.c.id == bindparam("b_id")).values(**values)
    db.session.execute(statement, [{"b_id": r["id"], **{f"v_{k}": r[k] for k in keys}} for r in rows])


def _write_contacts(rows: list[CleanRow], now: datetime, source_name: str) -> dict[str, tuple[int, str]]:
    """Insert new contacts and update changed ones. Returns email -> (contact id, created/updated/same)."""
    emails = [r.email for r in rows]
    members = {r.email for r in rows if r.plan_id is not None}
    existing = {
        r.email: r for r in db.session.execute(select(*_CONTACT_COLUMNS).where(Contact.email.in_(emails)))
    }
    result: dict[str, tuple[int, str]] = {}
    new_rows, updates, consents = [], [], []
    # The contact's copy of its news consent as the consent module has it, once per chunk (not per row).
    news = {granted: consent_bulk.imported_news_columns(granted, at=now) for granted in (True, False, None)}
    for row in rows:
        old = existing.get(row.email)
        if old is None:
            values = {f: row.values.get(f, _NEW_CONTACT_DEFAULTS.get(f, "")) for f in CONTACT_FIELDS}
            new_rows.append({"email": row.email, **values, "source": ContactSource.IMPORT, **news[True if row.consent else None],
                             "created_at": now, "updated_at": now})  # fmt: skip
            continue
        merged = {f: row.values.get(f, getattr(old, f)) for f in CONTACT_FIELDS}
        consent = {c: getattr(old, c) for c in consents_module.NEWS_COLUMNS}
        if row.consent is not None and row.consent != old.email_consent:
            consent = news[row.consent]
            consents.append((old.id, row.consent))
        changed = (
            any(merged[f] != getattr(old, f) for f in CONTACT_FIELDS)
            or consent["email_consent"] != old.email_consent
        )
        if changed:
            updates.append({"id": old.id, **merged, **consent, "updated_at": now})
        result[row.email] = (old.id, "updated" if changed else "same")
    if new_rows:
        result.update(
            (email, (contact_id, "created"))
            for email, contact_id in _insert_contacts(new_rows, members).items()
        )
        consents += [(result[str(r["email"])][0], True) for r in new_rows if r["email_consent"]]
    _bulk_update(
        Contact, [*CONTACT_FIELDS, *consents_module.NEWS_COLUMNS, "updated_at"], updates, bump_version=True
    )
    # The consent module gave the contact rows above their copy of the email news consent (written
    # in the same bulk statements, for speed); it records the history and current state here.
    consent_bulk.record_imported([(cid, "email", "news", granted) for cid, granted in consents],
                            wording=f"Imported from {source_name}", at=now)  # fmt: skip
    appeals = {result[r.email][0]: r.appeals for r in rows if r.appeals is not None}
    if appeals:
        now_on = consent_bulk.granted_among(list(appeals), "email", "appeals")
        consent_bulk.record_imported(
            [(cid, "email", "appeals", g) for cid, g in appeals.items() if g != (cid in now_on)],
            wording=f"Imported from {source_name}", at=now,
        )  # fmt: skip
    return result


def _write_memberships(
    rows: list[CleanRow], ids: dict[str, tuple[int, str]], created: set[int], now: datetime
) -> set[int]:
    """Create or update each row's membership (Stripe-managed ones are left to Stripe, a joint
    membership's second adult to the payer's). Returns changed contacts."""
    wanted = {ids[r.email][0]: r for r in rows if r.plan_id is not None}
    if not wanted:
        return set()
    on_file = wanted.keys() - created  # a contact this chunk created has no membership yet
    existing = (
        db.session.execute(
            select(
                Membership.id,
                Membership.contact_id,
                Membership.plan_id,
                Membership.status,
                Membership.joined_at,
                Membership.paid_through,
                Membership.stripe_subscription_id,
                Membership.joint_primary_id,
            )  # fmt: skip
            .where(Membership.contact_id.in_(on_file))
            .order_by(Membership.id)
        )
        if on_file
        else ()
    )
    chosen: dict[int, Any] = {}
    for m in existing:
        current = chosen.get(m.contact_id)
        if current is None or current.status not in CURRENT_STATUSES or m.status in CURRENT_STATUSES:
            chosen[m.contact_id] = m
    inserts, updates, events, changed = [], [], [], set()
    for contact_id, row in wanted.items():
        old = chosen.get(contact_id)
        if old is None:
            joined = row.joined or now
            inserts.append({"contact_id": contact_id, "plan_id": row.plan_id, "status": row.status, "joined_at": joined,
                            "current_period_start": joined, "paid_through": row.paid_through, "auto_renew": False,
                            "created_at": now, "updated_at": now})  # fmt: skip
            changed.add(contact_id)
            continue
        if old.stripe_subscription_id or old.joint_primary_id:  # Stripe's, or follows a joint payer's
            continue
        new = {"plan_id": row.plan_id, "status": row.status, "joined_at": row.joined or old.joined_at,
               "paid_through": row.paid_through if row.paid_through else old.paid_through}  # fmt: skip
        if any(new[k] != getattr(old, k) for k in new):
            updates.append({"id": old.id, **new, "updated_at": now})
            changed.add(contact_id)
            if new["status"] != old.status:
                events.append((old.id, old.status, row.status, new["paid_through"]))
    if inserts:
        for membership_id, status, paid_through in _insert_memberships(inserts, now):
            events.append((membership_id, None, status, paid_through))
    _bulk_update(Membership, ["plan_id", "status", "joined_at", "paid_through", "updated_at"], updates)
    record_imported_statuses(events, now)
    return changed


def _insert_memberships(inserts: list[dict[str, Any]], now: datetime) -> list[tuple[int, str, Any]]:
    """Insert new memberships; returns (id, status, paid_through) of each. PostgreSQL takes the ids
    from the table's sequence first, so nothing is read back; SQLite reads them back by contact."""
    table = Membership.__table__
    if db.engine.dialect.name == "postgresql":
        rows = [
            {**m, "id": membership_id}
            for m, membership_id in zip(inserts, _next_ids("membership", len(inserts)), strict=True)
        ]
        db.session.execute(insert(table), rows)
        return [(m["id"], m["status"], m["paid_through"]) for m in rows]
    db.session.execute(insert(table), inserts)
    return [(membership_id, status, paid_through) for membership_id, status, paid_through in db.session.execute(
        select(Membership.id, Membership.status, Membership.paid_through).where(
            Membership.contact_id.in_([m["contact_id"] for m in inserts]), Membership.created_at == now)
    )]  # fmt: skip


def _next_ids(table_name: str, count: int) -> list[int]:
    """`count` ids from a PostgreSQL table's own sequence (safe beside other writers)."""
    return list(db.session.scalars(
        select(func.nextval(func.pg_get_serial_sequence(table_name, "id"))).select_from(func.generate_series(1, count))
    ))  # fmt: skip


def _member_number_sql(contact_id: Any) -> Any:
    """SQL for crm.memberships.lifecycle.member_number_for: 'M' + the id zero-padded to 6 digits."""
    if db.engine.dialect.name == "sqlite":
        return func.printf("M%06d", contact_id)
    digits = cast(contact_id, String)
    return literal("M") + case((contact_id < 1_000_000, func.lpad(digits, 6, "0")), else_=digits)


def _insert_contacts(new_rows: list[dict[str, Any]], members: set[str]) -> dict[str, int]:
    """Insert new contacts, members with their number already set; returns email -> id.

    Each row is written once, so the search index (a trigger on SQLite) indexes it once: setting
    the number afterwards re-indexed every new member (a delete and a second insert in FTS5).
    PostgreSQL takes the ids from the table's sequence first (safe beside other writers). SQLite
    gives each row max(id) + 1 inside the INSERT itself, which holds the database's only write
    lock, so a sign-up at the same moment cannot take the same id. A plain executemany with one
    SELECT for the ids is several times faster than RETURNING.
    """
    table = Contact.__table__
    if db.engine.dialect.name == "postgresql":
        new_ids = _next_ids("contact", len(new_rows))
        rows = [{**r, "id": contact_id, "member_number": member_number_for(contact_id) if r["email"] in members else None}
                for r, contact_id in zip(new_rows, new_ids, strict=True)]  # fmt: skip
        db.session.execute(insert(table), rows)
        return {r["email"]: r["id"] for r in rows}
    next_id = select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery()
    number = case((bindparam("is_member", type_=Boolean), _member_number_sql(next_id)))
    db.session.execute(insert(table).values(id=next_id, member_number=number),
                       [{**r, "is_member": r["email"] in members} for r in new_rows])  # fmt: skip
    found = db.session.execute(
        select(Contact.id, Contact.email).where(Contact.email.in_([r["email"] for r in new_rows]))
    )
    return {email: contact_id for contact_id, email in found}


def _assign_member_numbers(contact_ids: set[int]) -> list[int]:
    """Contacts already on file who become members get their number, in one UPDATE per chunk.
    Returns the ones that had none (now numbered)."""
    if not contact_ids:
        return []
    return list(db.session.scalars(
        update(Contact)
        .where(Contact.id.in_(contact_ids), Contact.member_number.is_(None))
        .values(member_number=_member_number_sql(Contact.id))
        .returning(Contact.id)
        .execution_options(synchronize_session=False)
    ))  # fmt: skip


def _write_declarations(
    rows: list[CleanRow], ids: dict[str, tuple[int, str]], created: set[int], now: datetime
) -> set[int]:
    wanted = {ids[r.email][0]: r for r in rows if r.gift_aid}
    if not wanted:
        return set()
    on_file = wanted.keys() - created  # a contact this chunk created has no declaration yet
    have = set(db.session.scalars(select(GiftAidDeclaration.contact_id).where(
        GiftAidDeclaration.contact_id.in_(on_file), GiftAidDeclaration.cancelled_at.is_(None)))) if on_file else set()  # fmt: skip
    new = [cid for cid in wanted if cid not in have]
    if new:
        db.session.execute(insert(GiftAidDeclaration.__table__), [
            {"contact_id": cid, "declared_at": now, "valid_from": now, "source": "import",
             "wording": "Declaration held on file; imported from CSV.",
             "house": wanted[cid].values.get("address_line1", "")[:200], "postcode": wanted[cid].values.get("postcode", "")}
            for cid in new
        ])  # fmt: skip
    return set(new)


def _write_notes(rows: list[CleanRow], ids: dict[str, tuple[int, str]], now: datetime) -> set[int]:
    """Each row's Notes cell as a staff note on the contact, once (the same note is not added again)."""
    wanted = {ids[r.email][0]: f"Imported note: {r.note}" for r in rows if r.note}
    if not wanted:
        return set()
    found = db.session.execute(select(Note.contact_id, Note.body).where(Note.contact_id.in_(wanted)))
    have = {(r.contact_id, r.body) for r in found}
    new = {cid: body for cid, body in wanted.items() if (cid, body) not in have}
    if new:
        db.session.execute(insert(Note.__table__), [
            {"contact_id": cid, "body": body, "created_at": now} for cid, body in new.items()
        ])  # fmt: skip
    return set(new)


def import_chunk(rows: list[CleanRow], report: ImportReport, source_name: str) -> None:
    """Write one chunk of valid rows (the caller commits)."""
    if not rows:
        return
    now = utcnow()
    bulk_write_settings()
    with batch_indexing() as search:
        ids = _write_contacts(rows, now, source_name)
        created = {contact_id for contact_id, outcome in ids.values() if outcome == "created"}
        member_changes = _write_memberships(rows, ids, created, now)
        numbered = _assign_member_numbers(
            {ids[r.email][0] for r in rows if r.plan_id is not None and ids[r.email][1] != "created"}
        )
        search.added.update(created)
        search.changed.update(
            numbered, (contact_id for contact_id, outcome in ids.values() if outcome == "updated")
        )
    declaration_changes = _write_declarations(rows, ids, created, now)
    note_changes = _write_notes(rows, ids, now)
    for row in rows:
        contact_id, outcome = ids[row.email]
        if outcome == "created":
            report.created += 1
        elif outcome == "updated" or contact_id in member_changes | declaration_changes | note_changes:
            report.updated += 1
        else:
            report.unchanged += 1
