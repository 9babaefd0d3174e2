"""Contacts: everyone we know (members or not), their consents, notes and Gift Aid declarations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Computed, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model

if TYPE_CHECKING:
    from crm.accounts.models import User
    from crm.memberships.models import Membership


#: A UK postcode area is its leading letters, one or two, before the district's digit: N1 9GU is
#: in N, NW1 2AB in NW (not N), GIR 0AA in none. Upper-cased, so "n1 9gu" is in N too. The
#: migration adds it STORED on PostgreSQL and VIRTUAL on SQLite (which cannot add a stored column
#: to a table); the index holds it either way.
POSTCODE_AREA_SQL = (
    "CASE WHEN substr(postcode, 2, 1) BETWEEN '0' AND '9' THEN upper(substr(postcode, 1, 1)) "
    "WHEN substr(postcode, 3, 1) BETWEEN '0' AND '9' THEN upper(substr(postcode, 1, 2)) ELSE '' END"
)


class Contact(Model):
    """A supporter. The email is stored lower-cased, so it is unique case-insensitively."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-cased, trimmed; unique. Erased contacts get a placeholder like erased-<id>@invalid.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    title: Mapped[str] = mapped_column(String(40), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    town: Mapped[str] = mapped_column(String(100), default="")
    #: Found through the search index (crm.staff.search), with or without its space; no index of its own.
    postcode: Mapped[str] = mapped_column(String(20), default="")
    #: The postcode's area (N for N1 9GU, NW for NW1 2AB, "" for none), computed by the database
    #: from `postcode` whoever writes it (a form, the import, an erasure), for the audience filter.
    postcode_area: Mapped[str] = mapped_column(String(2), Computed(POSTCODE_AREA_SQL, persisted=True))
    country: Mapped[str] = mapped_column(String(2), default="GB")
    phone: Mapped[str] = mapped_column(String(40), default="")
    #: 'en' or 'es' (crm.core.languages): the language of every email to them, and of the site
    #: when they are signed in and have not picked one with the switch.
    preferred_language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: The current email "news and updates" consent, kept by crm.contacts.consent (the only writer);
    #: history is in `consent`, every channel and purpose in `contact_consent`.
    email_consent: Mapped[bool] = mapped_column(default=False)
    email_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_consent_source: Mapped[str] = mapped_column(String(40), default="")
    #: Their current membership's status (else their latest one's; "" for none), for the audience
    #: count; written only by crm.memberships.lifecycle.facts.refresh_membership_status.
    membership_status: Mapped[str] = mapped_column(String(30), default="", server_default="")
    #: How we first met them: a crm.contacts.sources.ContactSource (join, donate, subscribe, ...).
    source: Mapped[str] = mapped_column(String(40), default="")
    #: Assigned when they first become a member, shown on the membership card.
    member_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    erasure_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Optimistic locking: a second save of a stale form is told the record changed.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    user: Mapped[User | None] = relationship(back_populates="contact", uselist=False)
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="contact", order_by="Membership.id", foreign_keys="Membership.contact_id"
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


Index("ix_contact_last_first", Contact.last_name, Contact.first_name)
#: "Came to us through" filters, and whether any demo or seed contact exists (crm.contacts.sources)
#: for the staff filters to offer those sources at all: an index lookup at 100,000 contacts.
Index("ix_contact_source", Contact.source)
#: The audience count starts from the contacts in its postcode areas and reads no contact row:
#: the email news consent and the membership status are facts on the contact, so "areas N and E,
#: no membership or lapsed, news by email" is a handful of index range counts; erased_at and id are
#: in the index (an index-only scan on PostgreSQL; SQLite's rowid is in it).
Index(
    "ix_contact_audience",
    Contact.postcode_area,
    Contact.email_consent,
    Contact.membership_status,
    Contact.erased_at,
    Contact.id,
)


class Consent(Model):
    """Each time a consent is given or withdrawn: the wording shown, when, and how."""

    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    #: "<channel>_<purpose>", e.g. email_news (rows before December 2026: email_updates).
    kind: Mapped[str] = mapped_column(String(40))
    #: email, post, phone, sms (crm.contacts.consent.CHANNELS)
    channel: Mapped[str] = mapped_column(String(10), default="email")
    #: news, appeals (crm.contacts.consent.PURPOSES)
    purpose: Mapped[str] = mapped_column(String(20), default="news")
    granted: Mapped[bool]
    #: The words the person read (or staff wrote), exactly as shown, in `language`.
    wording: Mapped[str] = mapped_column(Text, default="")
    #: The language `wording` was shown in ("en", "es").
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: join, subscribe, account, staff_phone, staff, import, unsubscribe_link, list_unsubscribe, erasure
    source: Mapped[str] = mapped_column(String(40), default="")
    #: The staff member who recorded it (a phone call, an edit); None when the person did it themselves.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: Double opt-in: a subscribe consent counts only once confirmed.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactConsent(Model):
    """The current state per contact, channel and purpose: the newest confirmed `Consent`.

    Written only by crm.contacts.consent, beside the history row, so audiences filter on one
    indexed row instead of finding the newest of many."""

    __tablename__ = "contact_consent"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted: Mapped[bool]
    #: The history row that set this state.
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consent.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


Index("ix_contact_consent_lookup", ContactConsent.channel, ContactConsent.purpose, ContactConsent.granted,
      ContactConsent.contact_id)  # fmt: skip


class Suppression(Model):
    """An address no marketing mail goes to, whatever its consent says (bounce, complaint, staff)."""

    __tablename__ = "email_suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-cased; unique.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: hard_bounce, complaint, staff
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tag(Model):
    """A staff-defined label ("volunteer", "Leeds group", "press")."""

    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactTag(Model):
    __tablename__ = "contact_tag"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Note(Model):
    """A staff note on a contact."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GiftAidDeclaration(Model):
    """The HMRC taxpayer declaration; valid from `valid_from` until cancelled."""

    __tablename__ = "gift_aid_declaration"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Donations on or after this moment are covered (four years back when the declaration says so).
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The declaration exactly as the supporter accepted it, in `language`.
    wording: Mapped[str] = mapped_column(Text, default="")
    #: The language the declaration was shown in ("en", "es").
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    #: join, donate, account, staff, import
    source: Mapped[str] = mapped_column(String(40), default="")
    #: Address as declared (HMRC needs house name or number and postcode).
    house: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
