"""Consent in bulk, for the import and the seed: thousands of contacts' history rows, current
state and copy on the contact (`consent.NEWS_COLUMNS`) in a few statements whatever the row
count. The rules are crm/contacts/consent.py's; this is its set-based half."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from crm.contacts import consent
from crm.contacts.models import Consent, Contact, ContactConsent
from crm.extensions import db

#: The source of every consent the import records (`record_imported`, `imported_news_columns`).
IMPORTED = "import"


def imported_news_columns(granted: bool | None, *, at: datetime) -> dict[str, Any]:
    """`consent.news_columns` for a contact row the import inserts or updates in bulk (None: the
    file gives no consent for a new contact, so none is recorded). The import writes them in its
    own statement, for speed, and then records the same change with `record_imported` at the
    same `at`, which writes the history and current state and finds this copy already set."""
    return consent.news_columns(granted, source=IMPORTED, at=at)


def granted_among(contact_ids: list[int], channel: str, purpose: str) -> set[int]:
    """Which of these contacts currently consent (one query per 5,000 ids, for the import)."""
    found: set[int] = set()
    for start in range(0, len(contact_ids), 5000):
        found.update(
            db.session.scalars(
                select(ContactConsent.contact_id).where(
                    ContactConsent.contact_id.in_(contact_ids[start : start + 5000]),
                    ContactConsent.channel == channel, ContactConsent.purpose == purpose,
                    ContactConsent.granted.is_(True),
                )
            )
        )  # fmt: skip
    return found


def record_imported(rows: Iterable[tuple[int, str, str, bool]], *, wording: str, at: datetime) -> int:
    """Bulk version for the import: (contact id, channel, purpose, granted) rows, source "import"
    (`IMPORTED`).

    The caller has already left out rows whose state would not change. Two statements per pair
    of (channel, purpose) whatever the row count, so a 100,000-row import stays fast."""
    rows = list(rows)
    current = ContactConsent.__table__
    for (ch, pu), ids in _ids_by_pair(rows).items():
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            db.session.execute(
                delete(current).where(
                    current.c.channel == ch, current.c.purpose == pu, current.c.contact_id.in_(chunk)
                )
            )
    return _insert_bulk(rows, source=IMPORTED, wording=wording, at=at)


def record_for_new_contacts(
    rows: Iterable[tuple[int, str, str, bool]], *, source: str, wording: str, at: datetime
) -> int:
    """Bulk consent for contacts inserted in this same transaction (`flask crm seed-bench`):
    a history row and a current-state row each, so audiences and campaigns reach them as they
    reach everyone else. They have no current state yet, so nothing is replaced. Flushes."""
    return _insert_bulk(list(rows), source=source, wording=wording, at=at)


def _ids_by_pair(rows: list[tuple[int, str, str, bool]]) -> dict[tuple[str, str], list[int]]:
    by_pair: dict[tuple[str, str], list[int]] = {}
    for cid, ch, pu, _ in rows:
        consent.check(ch, pu)
        by_pair.setdefault((ch, pu), []).append(cid)
    return by_pair


def _insert_bulk(rows: list[tuple[int, str, str, bool]], *, source: str, wording: str, at: datetime) -> int:
    """One INSERT of history rows and one of current-state rows, whatever the row count."""
    if not rows:
        return 0
    _ids_by_pair(rows)
    db.session.execute(
        insert(Consent.__table__),
        [
            {"contact_id": cid, "kind": f"{ch}_{pu}", "channel": ch, "purpose": pu, "granted": granted,
             "source": source, "wording": wording[:1000], "confirmed_at": at, "created_at": at}
            for cid, ch, pu, granted in rows
        ],
    )  # fmt: skip
    db.session.execute(
        insert(ContactConsent.__table__),
        [
            {"contact_id": cid, "channel": ch, "purpose": pu, "granted": g, "changed_at": at}
            for cid, ch, pu, g in rows
        ],
    )
    _set_news_on_contacts(rows, source=source, at=at)
    return len(rows)


def _set_news_on_contacts(rows: list[tuple[int, str, str, bool]], *, source: str, at: datetime) -> None:
    """`Contact.email_consent` follows the bulk path too (the audience count reads it); only rows
    whose state changes are written."""
    for granted in (True, False):
        ids = [cid for cid, ch, pu, g in rows if (ch, pu) == ("email", "news") and g is granted]
        for start in range(0, len(ids), 5000):
            db.session.execute(
                update(Contact)
                .where(Contact.id.in_(ids[start : start + 5000]), Contact.email_consent.is_not(granted))
                .values(**consent.news_columns(granted, source=source, at=at))
                .execution_options(synchronize_session=False)
            )
