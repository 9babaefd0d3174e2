"""Importing members, first half: the file's columns, decoding, mapping and validating each row."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from crm.contacts.services import (
    IDENTIFYING_FIELDS,
    PERSONAL_FIELDS,
    EmailAddressError,
    max_length,
    normalise_email,
)
from crm.core.csv_export import FORMULA_STARTS
from crm.extensions import db
from crm.i18n.languages import language_from_text
from crm.memberships.lifecycle.imported import IMPORT_STATUSES, imported_terms
from crm.memberships.models import MembershipStatus, Plan

#: The columns an import can map: the contact's own (crm/contacts/services.py), then the import's.
FIELDS = (
    "email", *PERSONAL_FIELDS, "plan", "status", "joined", "paid_through", "email_consent",
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
CONTACT_FIELDS = PERSONAL_FIELDS
#: The longest value each free-text field holds: the contact's own columns say.
MAX_LENGTHS = {name: length for name in IDENTIFYING_FIELDS if (length := max_length(name))}
#: What a new contact gets for a column the file leaves empty (others: "").
_NEW_CONTACT_DEFAULTS = {"country": "GB", "preferred_language": "en"}
STATUS_ALIASES = {"current": MembershipStatus.ACTIVE, "paid": MembershipStatus.ACTIVE, "live": MembershipStatus.ACTIVE,
                  "expired": MembershipStatus.EXPIRED, "lapsed": MembershipStatus.LAPSED,
                  "resigned": MembershipStatus.CANCELLED, "canceled": MembershipStatus.CANCELLED}  # fmt: skip
YES = {"yes", "y", "true", "1", "x", "on"}
NO = {"no", "n", "false", "0", "off", ""}
COUNTRY_ALIASES = {"uk": "GB", "unitedkingdom": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB",
                   "wales": "GB", "northernireland": "GB", "ireland": "IE"}  # fmt: skip
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %B %Y", "%d %b %Y",
                "%B %d %Y", "%b %d %Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")  # fmt: skip
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
        raise ImportFileError(
            "This looks like an Excel workbook. Save it as CSV (comma separated) and upload that."
        )
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
            raise ImportFileError(
                f"The column name “{h}” appears twice in the first row. Rename one of them."
            )
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
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_STARTS:
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
    try:  # the app's one check (crm.contacts.services), as on the join form and the staff edit
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
            language = language_from_text(value)
            if language is None:
                raise ValueError(f"language “{raw[name][:40]}” is not en (English) or es (Spanish)")
            value = language
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
                raise ValueError(
                    f"{LABELS[name].split(' (')[0].lower()} “{raw[name][:40]}” is not a date (use DD/MM/YYYY or YYYY-MM-DD)"
                )
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
        terms = imported_terms(plan, status, joined=row.joined, paid_through=row.paid_through)
        row.status, row.paid_through = terms.status, terms.paid_through
        row.assumed.extend(terms.assumed)
    elif status_text or row.paid_through:
        raise ValueError("a membership status or paid-through date needs a plan")
    return row


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
