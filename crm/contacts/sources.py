"""How a contact first came to us (`Contact.source`): the codes its writers use, and the words staff read.

The real channels are the forms and desks a person arrives through. Demo data (`flask demo`) and
the benchmark seed (`devtools.seed`) write codes of their own so that they can be told apart; they
are not channels, so staff see them only where such contacts exist, and then under a label that
says what they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from crm.contacts.models import Contact
from crm.extensions import db


class ContactSource(StrEnum):
    JOIN = "join"
    DONATE = "donate"
    SUBSCRIBE = "subscribe"
    EVENT = "event"
    IMPORT = "import"
    STAFF = "staff"
    #: crm.demo, development only.
    DEMO = "demo"
    #: devtools.seed (benchmarks), development only.
    SEED = "seed"


#: The ways a real person comes to us, in the order staff read them.
CHANNELS = (
    ContactSource.JOIN,
    ContactSource.DONATE,
    ContactSource.SUBSCRIBE,
    ContactSource.EVENT,
    ContactSource.IMPORT,
    ContactSource.STAFF,
)
#: Written only by development data.
DEVELOPMENT = (ContactSource.DEMO, ContactSource.SEED)
#: Every code a contact's source may have, as plain strings.
CODES = frozenset(source.value for source in ContactSource)

#: The words staff read for each source (lazy: in the language of the page that shows them).
LABELS = {
    ContactSource.JOIN: _l("Join form"),
    ContactSource.DONATE: _l("Donation form"),
    ContactSource.SUBSCRIBE: _l("Subscribe form"),
    ContactSource.EVENT: _l("Event booking"),
    ContactSource.IMPORT: _l("Import"),
    ContactSource.STAFF: _l("Added by staff"),
    ContactSource.DEMO: _l("Demo data (development only)"),
    ContactSource.SEED: _l("Benchmark seed data (development only)"),
}


def label(code: str) -> str:
    """The words for a source, in the page's language; a code this list does not know is quoted."""
    if not code:
        return gettext("Not recorded")
    if code in CODES:
        return str(LABELS[ContactSource(code)])
    return gettext("Other (%(code)s)", code=code)


def development_sources_in_use() -> list[ContactSource]:
    """The development-only sources some contact has (none in production): one index lookup each
    (`ix_contact_source`), however many contacts there are."""
    found = db.session.execute(select(*(exists().where(Contact.source == s) for s in DEVELOPMENT))).one()
    return [source for source, present in zip(DEVELOPMENT, found, strict=True) if present]


def offered(chosen: Iterable[str] = ()) -> list[ContactSource]:
    """The sources a filter offers: every real channel, then each development-only source that
    some contact has or that the filter has `chosen` already."""
    wanted = {*development_sources_in_use(), *chosen}
    return [*CHANNELS, *(source for source in DEVELOPMENT if source in wanted)]
