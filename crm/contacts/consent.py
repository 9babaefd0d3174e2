"""Consent per channel and purpose: the one module that reads and writes it (with
crm/contacts/consent_bulk.py, its set-based half for the import and the seed).

Every change is a new `Consent` row (never overwritten): the wording shown, where it was given,
when and by whom. The current state per channel and purpose is kept beside it in
`ContactConsent`, and the email "news" state also in `Contact.email_consent` (the older filters
and exports read it). A subscribe-form grant counts only once its emailed link is confirmed.
Transactional mail never asks this module; marketing mail always does (crm.email.services).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from crm.contacts.models import Consent, Contact, ContactConsent, Suppression
from crm.contacts.services import email_key
from crm.core.types import utcnow
from crm.extensions import db

CHANNELS = ("email", "post", "phone", "sms")
PURPOSES = ("news", "appeals")
CHANNEL_LABELS = {"email": "Email", "post": "Post", "phone": "Phone calls", "sms": "Text messages (SMS)"}
PURPOSE_LABELS = {"news": "News and updates", "appeals": "Fundraising appeals"}
#: Where a consent was given (or withdrawn).
SOURCES = ("join", "donate", "subscribe", "account", "staff_phone", "staff", "import", "unsubscribe_link",
           "list_unsubscribe", "erasure", "merge", "seed")  # fmt: skip
#: The words staff read for where a consent (or a Gift Aid declaration, whose codes are among these)
#: was recorded; a code not listed here is quoted as it is (`source_label`).
SOURCE_LABELS = {
    "join": _l("join form"),
    "donate": _l("donation form"),
    "subscribe": _l("subscribe form"),
    "account": _l("their account page"),
    "staff_phone": _l("staff, on the phone"),
    "staff": _l("staff"),
    "import": _l("import"),
    "unsubscribe_link": _l("the unsubscribe link in an email"),
    "list_unsubscribe": _l("one-click unsubscribe in their mail app"),
    "erasure": _l("erasure of their data"),
    "merge": _l("merging two contacts"),
    "demo": _l("demo data (development only)"),
    "seed": _l("benchmark seed data (development only)"),
}


def source_label(code: str) -> str:
    """Where a consent or a declaration was recorded, in words (`consent_source` in templates)."""
    if not code:
        return gettext("not recorded")
    found = SOURCE_LABELS.get(code)
    return str(found) if found is not None else gettext("other (%(code)s)", code=code)


#: The contact's own copy of its email "news" consent, which this module keeps (`news_columns`).
NEWS_COLUMNS = ("email_consent", "email_consent_at", "email_consent_source")

_WORDING = {
    "news": _l(
        "Yes, send me news and campaign updates from %(org)s %(channel)s. I can stop them at any time."
    ),
    "appeals": _l("Yes, send me fundraising appeals from %(org)s %(channel)s. I can stop them at any time."),
}
_CHANNEL_WORDS = {"email": _l("by email"), "post": _l("by post"), "phone": _l("by phone"),
                  "sms": _l("by text message")}  # fmt: skip


class ConsentError(ValueError):
    """An unknown channel or purpose."""


@contextlib.contextmanager
def shown_in(language: str | None) -> Iterator[None]:
    """Words rendered inside are in `language` ("en", "es"); None: the page's own language."""
    if language is None:
        yield
        return
    with force_locale(language):
        yield


def wording(purpose: str, org: str, channel: str = "email", language: str | None = None) -> str:
    """The exact sentence shown beside a tick box for this purpose and channel, in `language`
    (None: the language of the page being rendered). What is shown is what is recorded."""
    check(channel, purpose)
    with shown_in(language):
        return str(_WORDING[purpose]) % {"org": org, "channel": str(_CHANNEL_WORDS[channel])}


def check(channel: str, purpose: str) -> None:
    """Refuse an unknown channel or purpose (ConsentError)."""
    if channel not in CHANNELS or purpose not in PURPOSES:
        raise ConsentError(f"unknown consent {channel}/{purpose}")


def current_state(contact_id: int) -> dict[tuple[str, str], bool]:
    """(channel, purpose) -> granted, for every pair (False where nothing was ever recorded)."""
    state = {(c, p): False for c in CHANNELS for p in PURPOSES}
    rows = db.session.execute(
        select(ContactConsent.channel, ContactConsent.purpose, ContactConsent.granted).where(
            ContactConsent.contact_id == contact_id
        )
    )
    for channel, purpose, granted in rows:
        state[(channel, purpose)] = bool(granted)
    return state


def has_consent(contact_id: int, channel: str, purpose: str) -> bool:
    check(channel, purpose)
    return bool(
        db.session.scalar(
            select(ContactConsent.granted).where(
                ContactConsent.contact_id == contact_id,
                ContactConsent.channel == channel,
                ContactConsent.purpose == purpose,
            )
        )
    )


def history(contact_id: int) -> list[Consent]:
    """Every record, newest first (the contact's page and the subject-access export show them)."""
    return list(
        db.session.scalars(
            select(Consent).where(Consent.contact_id == contact_id).order_by(Consent.id.desc())
        )
    )


def _set_current(
    contact: Contact, channel: str, purpose: str, granted: bool, consent: Consent, at: datetime
) -> None:
    row = db.session.get(ContactConsent, (contact.id, channel, purpose))
    if row is None:
        db.session.add(
            ContactConsent(
                contact_id=contact.id,
                channel=channel,
                purpose=purpose,
                granted=granted,
                consent_id=consent.id,
                changed_at=at,
            )
        )
    else:
        row.granted, row.consent_id, row.changed_at = granted, consent.id, at
    if (channel, purpose) == ("email", "news"):
        for column, value in news_columns(granted, source=consent.source, at=at).items():
            setattr(contact, column, value)


def news_columns(granted: bool | None, *, source: str, at: datetime) -> dict[str, Any]:
    """The contact's copy of its email "news" consent once `granted` is recorded from `source` at
    `at` (None: nothing recorded, as on a contact never asked)."""
    if granted is None:
        return dict(zip(NEWS_COLUMNS, (False, None, ""), strict=True))
    return dict(zip(NEWS_COLUMNS, (granted, at, source), strict=True))


def record_consent(
    contact: Contact,
    channel: str,
    purpose: str,
    granted: bool,
    *,
    source: str,
    wording: str,
    by: Any = None,
    confirmed: bool = True,
    at: datetime | None = None,
    language: str = "en",
) -> Consent | None:
    """Record a consent given or withdrawn, with the `wording` exactly as shown and the `language`
    it was shown in. Returns the new record, or None when the state is already that (nothing is
    written). An unconfirmed grant (`confirmed=False`, the subscribe form's double opt-in) is
    always written and changes nothing until `confirm_pending`. Flushes."""
    check(channel, purpose)
    now = at or utcnow()
    if confirmed and has_consent(contact.id, channel, purpose) == granted:
        return None
    consent = Consent(
        contact_id=contact.id,
        kind=f"{channel}_{purpose}",
        channel=channel,
        purpose=purpose,
        granted=granted,
        wording=wording,
        language=language,
        source=source,
        recorded_by_id=getattr(by, "id", None),
        confirmed_at=now if confirmed else None,
        created_at=now,
    )
    db.session.add(consent)
    db.session.flush()
    if confirmed:
        _set_current(contact, channel, purpose, granted, consent, now)
        db.session.flush()
    return consent


def record_choices(
    contact: Contact,
    choices: dict[tuple[str, str], bool],
    *,
    source: str,
    org: str,
    by: Any = None,
    confirmed: bool = True,
    language: str = "en",
) -> list[Consent]:
    """Record each (channel, purpose) -> granted choice from a form, with that form's wording in
    the `language` the form was shown in."""
    written = []
    for (channel, purpose), granted in choices.items():
        consent = record_consent(
            contact,
            channel,
            purpose,
            granted,
            source=source,
            wording=wording(purpose, org, channel, language),
            by=by,
            confirmed=confirmed,
            language=language,
        )
        if consent is not None:
            written.append(consent)
    return written


def confirm_pending(contact: Contact, source: str) -> int:
    """The subscriber clicked the emailed link: their unconfirmed grants from `source` count now."""
    now = utcnow()
    pending = list(
        db.session.scalars(
            select(Consent)
            .where(Consent.contact_id == contact.id, Consent.source == source, Consent.confirmed_at.is_(None))
            .order_by(Consent.id)
        )
    )
    for consent in pending:
        consent.confirmed_at = now
        _set_current(contact, consent.channel, consent.purpose, consent.granted, consent, now)
    db.session.flush()
    return len(pending)


def withdraw(contact: Contact, channel: str, purposes: Iterable[str], *, source: str, wording: str,
             by: Any = None) -> list[Consent]:  # fmt: skip
    """Withdraw `purposes` on `channel` (one click on an unsubscribe link, the account page)."""
    written = []
    for purpose in purposes:
        consent = record_consent(contact, channel, purpose, False, source=source, wording=wording, by=by)
        if consent is not None:
            written.append(consent)
    return written


def withdraw_everything(contact: Contact, *, source: str, wording: str, by: Any = None) -> int:
    """Every channel and purpose off (erasure). Returns how many records were written."""
    count = 0
    for (channel, purpose), granted in current_state(contact.id).items():
        if granted:
            record_consent(contact, channel, purpose, False, source=source, wording=wording, by=by)
            count += 1
    return count


def carry_over(kept: Contact, other: Contact, *, by: Any = None) -> None:
    """Merging duplicates: a consent the duplicate gave and the kept contact lacks comes across."""
    mine = current_state(kept.id)
    for pair, granted in current_state(other.id).items():
        if granted and not mine[pair]:
            record_consent(kept, *pair, True, source="merge", wording=f"Carried over from merged contact {other.id}",
                           by=by)  # fmt: skip
    # The duplicate's history moves with the merge; its current state would clash with the kept one's.
    db.session.execute(delete(ContactConsent).where(ContactConsent.contact_id == other.id))
    db.session.flush()


# --- suppression: no marketing mail at all to these addresses ----------------------------------


def is_suppressed(email: str) -> bool:
    return db.session.scalar(select(Suppression.id).where(Suppression.email == email_key(email))) is not None


def suppress(email: str, reason: str, *, detail: str = "", by: Any = None) -> Suppression | None:
    """Add an address to the suppression list; None when it is already there. Flushes."""
    address = email_key(email)
    if not address or is_suppressed(address):
        return None
    row = Suppression(
        email=address, reason=reason, detail=detail[:2000], created_by_id=getattr(by, "id", None)
    )
    db.session.add(row)
    db.session.flush()
    return row


def may_receive_marketing(contact: Contact, purpose: str) -> bool:
    """Marketing email only with a current email consent for `purpose` and an unsuppressed address."""
    return contact.id in marketing_reachable([contact.id], purpose)


def marketing_reachable(contact_ids: list[int], purpose: str) -> set[int]:
    """Which of these contacts a marketing email for `purpose` may go to now: not erased, a current
    email consent for it, an address not suppressed. One query per 5,000 ids (campaign batches)."""
    check("email", purpose)
    found: set[int] = set()
    for start in range(0, len(contact_ids), 5000):
        found.update(
            db.session.scalars(
                select(Contact.id)
                .join(ContactConsent, ContactConsent.contact_id == Contact.id)
                .where(
                    Contact.id.in_(contact_ids[start : start + 5000]),
                    Contact.erased_at.is_(None),
                    ContactConsent.channel == "email",
                    ContactConsent.purpose == purpose,
                    ContactConsent.granted.is_(True),
                    ~select(Suppression.id).where(Suppression.email == Contact.email).exists(),
                )
            )
        )
    return found
