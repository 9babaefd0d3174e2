"""Importing members from a CSV file: decode, map columns, validate every row, upsert in chunks.

Fast and safe to re-run: rows go in chunks; each chunk looks existing contacts up with one IN
query on the normalised email and writes with executemany; the caller commits after each chunk
(`on_chunk`), so an interrupted import run again finishes the job without duplicates. Importing
the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, String, bindparam, case, cast, func, insert, literal, select, update

from crm.audit.services import record
from crm.contacts import consent as consents_module
from crm.contacts.emails import EmailAddressError, normalise_email
from crm.contacts.models import Contact, GiftAidDeclaration, Note
from crm.core.database import bulk_write_settings
from crm.core.types import utcnow
from crm.extensions import db
from crm.i18n.languages import language_from_text
from crm.memberships.lifecycle import member_number_for
from crm.memberships.models import CURRENT_STATUSES, Membership, MembershipEvent, Plan
from crm.staff.search import batch_indexing

FIELDS = (
    "email", "title", "first_name", "last_name", "address_line1", "address_line2", "town", "postcode",
    "country", "phone", "preferred_language", "plan", "status", "joined", "paid_through", "email_consent",
    "appeals_consent", "gift_aid", "notes",
)  # fmt: skip
LABELS = {
    "email": "Email", "title": "Title", "first_name": "First name", "last_name": "Last name",
    "address_line1": "Address line 1", "address_line2": "Address line 2", "town": "Town or city",
    "postcode": "Postcode", "country": "Country", "phone": "Phone", "preferred_language": "Language (en or es)", "plan": "Plan (slug or name)",
    "status": "Membership status", "joined": "Joined (date)", "paid_through": "Paid through (date)",
    "email_consent": "Email updates consent (yes/no)", "appeals_consent": "Email appeals consent (yes/no)",
    "gift_aid": "Gift Aid declaration (yes/no)", "notes": "Notes (kept as a staff note)",
}  # fmt: skip
#: Header spellings recognised when guessing the mapping (compared without spaces, _ or -).
ALIASES = {
    "email": ("email", "emailaddress", "e-mail", "mail"),
    "title": ("title", "salutation"),
    "first_name": ("firstname", "forename", "givenname", "first"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "address_line1": ("addressline1", "address1", "address", "street", "housenameornumber"),
    "address_line2": ("addressline2", "address2"),
    "town": ("town", "city", "towncity", "townorcity"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode", "post code"),
    "country": ("country", "countrycode"),
    "phone": ("phone", "telephone", "tel", "mobile", "phonenumber"),
    "preferred_language": ("language", "preferredlanguage", "lang", "idioma"),
    "plan": ("plan", "membershipplan", "membershiptype", "type"),
    "status": ("status", "membershipstatus"),
    "joined": ("joined", "joindate", "joinedon", "membersince", "datejoined", "startdate"),
    "paid_through": ("paidthrough", "paiduntil", "expires", "expiry", "expirydate", "renewaldate", "enddate"),
    "email_consent": ("emailconsent", "consent", "emailupdates", "optin", "newsletter"),
    "appeals_consent": ("appealsconsent", "emailappeals", "appeals", "fundraisingconsent"),
    "gift_aid": ("giftaid", "giftaiddeclaration", "giftaided"),
    "notes": ("notes", "note", "comments", "comment", "remarks"),
}
CONTACT_FIELDS = (
    "title", "first_name", "last_name", "address_line1", "address_line2", "town", "postcode", "country", "phone",
    "preferred_language",
)  # fmt: skip
MAX_LENGTHS = {"title": 40, "first_name": 100, "last_name": 100, "address_line1": 200, "address_line2": 200,
               "town": 100, "postcode": 20, "phone": 40}  # fmt: skip
#: What a new contact gets for a column the file leaves empty (others: "").
_NEW_CONTACT_DEFAULTS = {"country": "GB", "preferred_language": "en"}
IMPORT_STATUSES = ("active", "grace", "lapsed", "cancelled", "suspended", "expired")
STATUS_ALIASES = {"current": "active", "paid": "active", "live": "active", "expired": "expired", "lapsed": "lapsed",
                  "resigned": "cancelled", "canceled": "cancelled"}  # fmt: skip
YES = {"yes", "y", "true", "1", "x", "on"}
NO = {"no", "n", "false", "0", "off", ""}
COUNTRY_ALIASES = {"uk": "GB", "unitedkingdom": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB",
                   "wales": "GB", "northernireland": "GB", "ireland": "IE"}  # fmt: skip
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %B %Y", "%d %b %Y",
                "%B %d %Y", "%b %d %Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")  # fmt: skip
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")  # noqa: E501
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_CHUNK = 2000
#: The longest cell a row may hold (a note included); a longer one is that row's error, not the file's.
MAX_CELL = 10_000
# The csv module refuses a field over its limit for the whole file: let any field through (uploads
# are size-limited already) and refuse an over-long one row by row, in validate_row.
csv.field_size_limit(2**31 - 1)


class ImportFileError(ValueError):
    """The file cannot be imported at all (not a CSV, binary, empty, no header)."""


@dataclass
class RowError:
    line: int
    reason: str
    email: str = ""


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "errors": len(self.errors)}  # fmt: skip


# --- Reading the file -------------------------------------------------------------------------


def decode_upload(data: bytes) -> str:
    """Bytes -> text: UTF-8 (with or without BOM), else Windows-1252, else Latin-1. Refuses binaries."""
    if not data.strip():
        raise ImportFileError("The file is empty.")
    head = data[:8192]
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise ImportFileError("This looks like an Excel workbook. Save it as CSV (comma separated) and upload that.")
    if head.startswith(b"%PDF") or b"\x00" in head:
        raise ImportFileError("This is not a CSV file (it contains binary data). Upload a CSV file.")
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > 5:
        raise ImportFileError("This is not a CSV file (it contains binary data). Upload a CSV file.")
    return text


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first.count)


def read_headers(text: str) -> list[str]:
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    headers = [h.strip() for h in next(reader, [])]
    if not any(headers):
        raise ImportFileError("The first row must hold the column names (email, first name...).")
    seen: set[str] = set()
    for h in headers:
        if h and h in seen:
            raise ImportFileError(f"The column name “{h}” appears twice in the first row. Rename one of them.")
        seen.add(h)
    if len(headers) == 1 and "@" in headers[0]:
        raise ImportFileError("The first row must hold the column names, not a member's details.")
    return headers


def _squash(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower())


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """field -> header, for the headers whose names we recognise."""
    by_name = {_squash(h): h for h in headers if h}
    mapping: dict[str, str] = {}
    for name in FIELDS:
        for alias in (name, *ALIASES.get(name, ())):
            header = by_name.get(_squash(alias))
            if header and header not in mapping.values():
                mapping[name] = header
                break
    return mapping


def iter_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number in the file, cells) for every row after the header; blank rows skipped."""
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    next(reader, None)
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if any(c.strip() for c in cells):
            yield line, cells


def count_rows(text: str) -> int:
    return sum(1 for _ in iter_rows(text))


# --- Validating a row -------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def parse_date(text: str) -> datetime | None:
    """Day-first dates in the common spellings -> midnight UTC; None if unreadable."""
    value = re.sub(r"\s+", " ", text.strip().replace(",", ""))
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)  # noqa: DTZ007  (a date, made UTC below)
        except ValueError:
            continue
        if 1900 <= parsed.year <= 2200:
            return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
    return None


def _text(cell: str) -> str:
    """Keep the cell's text; undo the quote our own export puts before a formula character."""
    value = cell.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA:
        value = value[1:]
    return value


@dataclass
class CleanRow:
    line: int
    email: str
    values: dict[str, str]  #: contact fields present (non-blank) in the file
    consent: bool | None = None
    appeals: bool | None = None
    gift_aid: bool = False
    plan_id: int | None = None
    status: str | None = None
    joined: datetime | None = None
    paid_through: datetime | None = None
    note: str = ""
    #: What the import worked out because the file did not say (shown in the preview).
    assumed: list[str] = field(default_factory=list)


def _yes_no(value: str, label: str) -> bool:
    lowered = value.strip().lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    raise ValueError(f"{label} “{value}” is not yes or no")


def validate_row(line: int, cells: list[str], index: dict[str, int], plans: dict[str, Plan]) -> CleanRow:
    """Raises ValueError with the reason a row cannot be imported."""
    needed = max(index.values()) + 1
    if len(cells) < needed:
        raise ValueError(f"missing columns: the row has {len(cells)} cells, the mapped columns need {needed}")
    if any(len(cell) > MAX_CELL for cell in cells):
        raise ValueError(f"a cell is longer than {MAX_CELL:,} characters")
    raw = {name: _text(cells[i]) for name, i in index.items()}
    email = raw.get("email", "").lower()
    if not email:
        raise ValueError("the email address is missing")
    if len(email) > 254 or not _EMAIL.match(email):
        # The fast check above knows plain ASCII addresses; anything else goes to the app's one
        # check (internationalised addresses, crm.contacts.emails), which says why it refuses.
        try:
            email = normalise_email(email)
        except EmailAddressError as error:
            why = f": {error}" if not email.isascii() else ""  # say why an internationalised one is refused
            raise ValueError(f"“{raw['email'][:80]}” is not a valid email address{why}") from error
    values: dict[str, str] = {}
    for name in CONTACT_FIELDS:
        value = raw.get(name, "")
        if not value:
            continue
        if name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
            raise ValueError(f"{LABELS[name].lower()} is longer than {MAX_LENGTHS[name]} characters")
        if name == "postcode":
            value = re.sub(r"\s+", " ", value.upper())
        if name == "country":
            value = COUNTRY_ALIASES.get(_squash(value), value.upper())
            if not re.fullmatch(r"[A-Z]{2}", value):
                raise ValueError(f"country “{raw['country'][:40]}” is not a two-letter code like GB")
        if name == "preferred_language":
            value = language_from_text(value)
            if value is None:
                raise ValueError(f"language “{raw[name][:40]}” is not en (English) or es (Spanish)")
        values[name] = value
    row = CleanRow(line=line, email=email, values=values, note=raw.get("notes", ""))
    if raw.get("email_consent"):
        row.consent = _yes_no(raw["email_consent"], "email consent")
    if raw.get("appeals_consent"):
        row.appeals = _yes_no(raw["appeals_consent"], "appeals consent")
    if raw.get("gift_aid"):
        row.gift_aid = _yes_no(raw["gift_aid"], "gift aid")
    for name in ("joined", "paid_through"):
        if raw.get(name):
            parsed = parse_date(raw[name])
            if parsed is None:
                raise ValueError(f"{LABELS[name].split(' (')[0].lower()} “{raw[name][:40]}” is not a date (use DD/MM/YYYY or YYYY-MM-DD)")
            setattr(row, name, parsed)
    plan_text, status_text = raw.get("plan", ""), raw.get("status", "").lower()
    if plan_text:
        plan = plans.get(plan_text.lower())
        if plan is None:
            raise ValueError(f"unknown plan “{plan_text[:60]}”")
        row.plan_id = plan.id
        status = STATUS_ALIASES.get(status_text, status_text)
        if status and status not in IMPORT_STATUSES:
            raise ValueError(f"unknown membership status “{raw['status'][:40]}”")
        row.status = _derive_dates(row, plan, status)
    elif status_text or row.paid_through:
        raise ValueError("a membership status or paid-through date needs a plan")
    return row


def _derive_dates(row: CleanRow, plan: Plan, status: str) -> str:
    """Fill in what an old list leaves out: the paid-through date from the joined date and the
    plan's period, the status from the paid-through date. Each guess is noted in `row.assumed`."""
    from crm.core.templating import format_date
    from crm.memberships.lifecycle import period_end

    if plan.recurring and row.paid_through is None and status in ("", "active", "grace"):
        if row.joined is None:
            raise ValueError(f"a {plan.interval}ly membership needs a paid-through or joined date")
        row.paid_through = period_end(plan, row.joined)
        row.assumed.append(f"paid through {format_date(row.paid_through)} (joined date + one {plan.interval})")
    if status:
        return status
    if not plan.recurring or (row.paid_through is not None and row.paid_through >= utcnow()):
        row.assumed.append("status active")
        return "active"
    row.assumed.append("status lapsed (the paid-through date has passed)")
    return "lapsed"


def ignored_columns(headers: list[str], mapping: dict[str, str]) -> list[str]:
    """The file's columns that no field is mapped to: nothing from them is imported."""
    used = set(mapping.values())
    return [h for h in headers if h and h not in used]


def plans_by_key() -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for plan in db.session.scalars(select(Plan)):
        plans.setdefault(plan.name.lower(), plan)
        plans[plan.slug.lower()] = plan
    return plans


def column_index(headers: list[str], mapping: dict[str, str]) -> dict[str, int]:
    return {name: headers.index(header) for name, header in mapping.items() if header in headers}


def _checked_row(
    line: int, cells: list[str], index: dict[str, int], plans: dict[str, Plan], seen: dict[str, int]
) -> CleanRow:
    """validate_row, and the file's own duplicates: the preview and the import both use this."""
    row = validate_row(line, cells, index, plans)
    if row.email in seen:
        raise ValueError(f"the same email address is already on line {seen[row.email]}")
    seen[row.email] = line
    return row


def preview(text: str, mapping: dict[str, str], limit: int = 20) -> list[dict[str, Any]]:
    """The first rows with what would be imported, or why not (nothing is written)."""
    headers, plans = read_headers(text), plans_by_key()
    index = column_index(headers, mapping)
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, cells in iter_rows(text):
        shown = {n: (cells[i] if i < len(cells) else "")[:200] for n, i in index.items()}
        entry: dict[str, Any] = {"line": line, "cells": shown, "assumed": []}
        try:
            row = _checked_row(line, cells, index, plans, seen)
            entry["error"], entry["assumed"] = "", row.assumed
        except ValueError as error:
            entry["error"] = str(error)
        out.append(entry)
        if len(out) >= limit:
            break
    return out


# --- Writing a chunk --------------------------------------------------------------------------

_CONTACT_COLUMNS = (Contact.id, Contact.email, *(getattr(Contact, f) for f in CONTACT_FIELDS), Contact.email_consent,
                    Contact.email_consent_at, Contact.email_consent_source, Contact.member_number)  # fmt: skip


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
    existing = {r.email: r for r in db.session.execute(select(*_CONTACT_COLUMNS).where(Contact.email.in_(emails)))}
    result: dict[str, tuple[int, str]] = {}
    new_rows, updates, consents = [], [], []
    for row in rows:
        old = existing.get(row.email)
        if old is None:
            values = {f: row.values.get(f, _NEW_CONTACT_DEFAULTS.get(f, "")) for f in CONTACT_FIELDS}
            new_rows.append({"email": row.email, **values, "source": "import", "email_consent": bool(row.consent),
                             "email_consent_at": now if row.consent else None,
                             "email_consent_source": "import" if row.consent else "", "created_at": now, "updated_at": now})  # fmt: skip
            continue
        merged = {f: row.values.get(f, getattr(old, f)) for f in CONTACT_FIELDS}
        consent = dict(email_consent=old.email_consent, email_consent_at=old.email_consent_at,
                       email_consent_source=old.email_consent_source)  # fmt: skip
        if row.consent is not None and row.consent != old.email_consent:
            consent = {"email_consent": row.consent, "email_consent_at": now, "email_consent_source": "import"}
            consents.append((old.id, row.consent))
        changed = any(merged[f] != getattr(old, f) for f in CONTACT_FIELDS) or consent["email_consent"] != old.email_consent
        if changed:
            updates.append({"id": old.id, **merged, **consent, "updated_at": now})
        result[row.email] = (old.id, "updated" if changed else "same")
    if new_rows:
        result.update((email, (contact_id, "created")) for email, contact_id in _insert_contacts(new_rows, members).items())
        consents += [(result[r["email"]][0], True) for r in new_rows if r["email_consent"]]
    _bulk_update(Contact, [*CONTACT_FIELDS, "email_consent", "email_consent_at", "email_consent_source", "updated_at"],
                 updates, bump_version=True)  # fmt: skip
    # The history and current state go through the consent module (the contact rows above carry
    # the email-news column it would set, written in the same bulk statement for speed).
    consents_module.record_imported([(cid, "email", "news", granted) for cid, granted in consents],
                            wording=f"Imported from {source_name}", at=now)  # fmt: skip
    appeals = {result[r.email][0]: r.appeals for r in rows if r.appeals is not None}
    if appeals:
        now_on = consents_module.granted_among(list(appeals), "email", "appeals")
        consents_module.record_imported(
            [(cid, "email", "appeals", g) for cid, g in appeals.items() if g != (cid in now_on)],
            wording=f"Imported from {source_name}", at=now,
        )  # fmt: skip
    return result


def _write_memberships(rows: list[CleanRow], ids: dict[str, tuple[int, str]], created: set[int], now: datetime) -> set[int]:
    """Create or update each row's membership (Stripe-managed ones are left to Stripe). Returns changed contacts."""
    wanted = {ids[r.email][0]: r for r in rows if r.plan_id is not None}
    if not wanted:
        return set()
    on_file = wanted.keys() - created  # a contact this chunk created has no membership yet
    existing = db.session.execute(
        select(Membership.id, Membership.contact_id, Membership.plan_id, Membership.status, Membership.joined_at,
               Membership.paid_through, Membership.stripe_subscription_id)  # fmt: skip
        .where(Membership.contact_id.in_(on_file)).order_by(Membership.id)
    ) if on_file else ()
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
        if old.stripe_subscription_id:
            continue
        new = {"plan_id": row.plan_id, "status": row.status, "joined_at": row.joined or old.joined_at,
               "paid_through": row.paid_through if row.paid_through else old.paid_through}  # fmt: skip
        if any(new[k] != getattr(old, k) for k in new):
            updates.append({"id": old.id, **new, "updated_at": now})
            changed.add(contact_id)
            if new["status"] != old.status:
                events.append({"membership_id": old.id, "from_status": old.status, "to_status": row.status,
                               "reason": "Imported from CSV", "paid_through": new["paid_through"], "created_at": now})  # fmt: skip
    if inserts:
        for membership_id, status, paid_through in _insert_memberships(inserts, now):
            events.append({"membership_id": membership_id, "from_status": None, "to_status": status,
                           "reason": "Imported from CSV", "paid_through": paid_through, "created_at": now})  # fmt: skip
    _bulk_update(Membership, ["plan_id", "status", "joined_at", "paid_through", "updated_at"], updates)
    if events:
        db.session.execute(insert(MembershipEvent.__table__), events)
    return changed


def _insert_memberships(inserts: list[dict[str, Any]], now: datetime) -> list[tuple[int, str, Any]]:
    """Insert new memberships; returns (id, status, paid_through) of each. PostgreSQL takes the ids
    from the table's sequence first, so nothing is read back; SQLite reads them back by contact."""
    table = Membership.__table__
    if db.engine.dialect.name == "postgresql":
        rows = [{**m, "id": membership_id} for m, membership_id in zip(inserts, _next_ids("membership", len(inserts)), strict=True)]
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
    found = db.session.execute(select(Contact.id, Contact.email).where(Contact.email.in_([r["email"] for r in new_rows])))
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


def _write_declarations(rows: list[CleanRow], ids: dict[str, tuple[int, str]], created: set[int], now: datetime) -> set[int]:
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
        search.changed.update(numbered, (contact_id for contact_id, outcome in ids.values() if outcome == "updated"))
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


def import_members(
    text: str,
    mapping: dict[str, str],
    *,
    source_name: str = "upload",
    actor: Any = None,
    actor_label: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    on_chunk: Callable[[], None] | None = None,
    progress: Callable[[int], None] | None = None,
    after_chunk: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Validate every row, import the good ones in chunks, report each bad one with its line.

    `on_chunk` commits each chunk; `after_chunk` then gets the report so far (rows read, created,
    updated, unchanged, errors), e.g. to log how far an import got before it was interrupted.
    """
    if "email" not in mapping:
        raise ImportFileError("Choose the column that holds the email address.")
    headers = read_headers(text)
    index = column_index(headers, mapping)
    if "email" not in index:
        raise ImportFileError(f"The file has no column called “{mapping['email']}”.")
    plans, report, seen = plans_by_key(), ImportReport(), {}
    record("import.members.start", target_type="import", target_id=source_name[:64],
           detail=f"importing {source_name}; columns: {mapping}", actor=actor, actor_label=actor_label)  # fmt: skip
    chunk: list[CleanRow] = []

    def flush_chunk() -> None:
        import_chunk(chunk, report, source_name)
        db.session.flush()
        if on_chunk:
            on_chunk()
        if progress:
            progress(len(chunk))
        if after_chunk and chunk:
            after_chunk(report)
        chunk.clear()

    for line, cells in iter_rows(text):
        report.rows += 1
        try:
            row = _checked_row(line, cells, index, plans, seen)
        except ValueError as error:
            report.errors.append(RowError(line, str(error), cells[index["email"]][:254] if len(cells) > index["email"] else ""))
            if progress:
                progress(1)
            continue
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush_chunk()
    flush_chunk()
    record("import.members", target_type="import", target_id=source_name[:64], actor=actor, actor_label=actor_label,
           after={**report.as_dict(), "first_errors": [f"line {e.line}: {e.reason}" for e in report.errors[:100]]},
           detail=f"imported {source_name}")  # fmt: skip
    db.session.flush()
    return report


def run_import_file(path: str, mapping: dict[str, str], actor_id: int | None = None, source_name: str = "upload") -> dict[str, int]:
    """Background job: import a stored upload, committing each chunk, then delete the file."""
    from pathlib import Path

    from crm.accounts.models import User

    actor = db.session.get(User, actor_id) if actor_id else None
    file = Path(path)
    report = import_members(file.read_text(encoding="utf-8"), mapping, source_name=source_name, actor=actor,
                            on_chunk=db.session.commit)  # fmt: skip
    db.session.commit()
    file.unlink(missing_ok=True)
    return report.as_dict()
