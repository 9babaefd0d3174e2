"""Events people book, their bookings and places, and the AGM's motions, participation and ballots."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model


class EventKind(StrEnum):
    EVENT = "event"
    AGM = "agm"


class Visibility(StrEnum):
    PUBLIC = "public"
    MEMBERS = "members"


class BookingStatus(StrEnum):
    #: Waiting for the Stripe webhook; holds its places meanwhile.
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    WAITING = "waiting"
    CANCELLED = "cancelled"


#: How a booking's status reads, in the reader's language (the booker's page, the staff's list).
BOOKING_STATUS_WORDS: dict[str, Any] = {
    BookingStatus.CONFIRMED: _l("Confirmed"),
    BookingStatus.WAITING: _l("On the waiting list"),
    BookingStatus.PENDING_PAYMENT: _l("Waiting for payment"),
    BookingStatus.CANCELLED: _l("Cancelled"),
}


def booking_status_name(code: str) -> str:
    """`pending_payment` as a person reads it (`booking_status` in templates)."""
    found = BOOKING_STATUS_WORDS.get(code)
    return str(found) if found is not None else code


#: Statuses whose places count against the capacity.
HOLDING_STATUSES = (BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED)


class VoteChoice(StrEnum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


class VoteChannel(StrEnum):
    ONLINE = "online"
    PROXY = "proxy"
    IN_ROOM = "in_room"


class MotionStatus(StrEnum):
    SUBMITTED = "submitted"
    #: On the published agenda, to be voted on.
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Event(Model):
    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    #: event or agm
    kind: Mapped[str] = mapped_column(String(10), default=EventKind.EVENT)
    title: Mapped[str] = mapped_column(String(200))
    description_markdown: Mapped[str] = mapped_column(Text, default="")
    #: Rendered and sanitised when saved (crm.core.markup), never at read time.
    description_html: Mapped[str] = mapped_column(Text, default="")
    #: The optional Spanish version, shown to Spanish readers when written (crm.i18n.content).
    title_es: Mapped[str] = mapped_column(String(200), default="", server_default="")
    description_markdown_es: Mapped[str] = mapped_column(Text, default="", server_default="")
    description_html_es: Mapped[str] = mapped_column(Text, default="", server_default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(String(300), default="")
    #: Shown only to people with a confirmed booking.
    online_link: Mapped[str] = mapped_column(String(500), default="")
    #: Places; 0 means no limit.
    capacity: Mapped[int] = mapped_column(default=0)
    #: public or members
    visibility: Mapped[str] = mapped_column(String(20), default=Visibility.PUBLIC)
    #: Price per place in pence for members in good standing, and for everyone else.
    member_price: Mapped[int] = mapped_column(default=0)
    other_price: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="gbp")
    published: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    bookings: Mapped[list[Booking]] = relationship(back_populates="event", order_by="Booking.id")

    @property
    def paid(self) -> bool:
        return self.member_price > 0 or self.other_price > 0


class Booking(Model):
    """One person's booking of one or more places (or their place in the waiting list)."""

    __tablename__ = "event_booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    places: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), index=True)
    #: Total due in pence (places x the price that applied when booked).
    amount: Mapped[int] = mapped_column(default=0)
    amount_paid: Mapped[int] = mapped_column(default=0)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    #: When its places began to be held for payment (booked, or offered from the waiting list);
    #: the daily run releases them EVENT_HOLD_HOURS later if still unpaid.
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    event: Mapped[Event] = relationship(back_populates="bookings")
    attendees: Mapped[list[BookingPlace]] = relationship(
        back_populates="booking", order_by="BookingPlace.id", cascade="all, delete-orphan"
    )


class BookingPlace(Model):
    """One place of a booking: the name of who comes, and when they were checked in."""

    __tablename__ = "event_booking_place"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("event_booking.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    booking: Mapped[Booking] = relationship(back_populates="attendees")


class Meeting(Model):
    """The AGM side of an event of kind agm: its windows and record date."""

    __tablename__ = "agm_meeting"

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), primary_key=True)
    motions_open: Mapped[bool] = mapped_column(default=False)
    agenda_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voting_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voting_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Members in good standing on this (UK) date may vote.
    record_date: Mapped[date | None] = mapped_column(Date)
    results_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    event: Mapped[Event] = relationship()
    motions: Mapped[list[Motion]] = relationship(back_populates="meeting", order_by="Motion.id")


class Motion(Model):
    __tablename__ = "agm_motion"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("agm_meeting.event_id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    text_markdown: Mapped[str] = mapped_column(Text, default="")
    text_html: Mapped[str] = mapped_column(Text, default="")
    #: The motion in Spanish, shown to Spanish readers when written (crm.i18n.content.localised).
    title_es: Mapped[str] = mapped_column(String(200), default="", server_default="")
    text_markdown_es: Mapped[str] = mapped_column(Text, default="", server_default="")
    text_html_es: Mapped[str] = mapped_column(Text, default="", server_default="")
    proposer_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"))
    status: Mapped[str] = mapped_column(String(20), default=MotionStatus.SUBMITTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="motions")


class VoteParticipation(Model):
    """Who voted on a motion (never how): one row per member per motion."""

    __tablename__ = "agm_participation"
    __table_args__ = (UniqueConstraint("motion_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    motion_id: Mapped[int] = mapped_column(ForeignKey("agm_motion.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"), index=True)
    #: online, proxy or in_room
    channel: Mapped[str] = mapped_column(String(10), default=VoteChannel.ONLINE)
    #: The staff account that entered a proxy or in-room vote.
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Ballot(Model):
    """How a vote went, with no contact and no time: it cannot be joined back to the voter."""

    __tablename__ = "agm_ballot"

    #: Random, so the order ballots were cast in (which a participation row's time would match)
    #: cannot be read back from the key.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: secrets.token_hex(16))
    motion_id: Mapped[int] = mapped_column(ForeignKey("agm_motion.id"))
    #: for, against or abstain
    choice: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10), default=VoteChannel.ONLINE)


Index("ix_agm_ballot_motion_choice", Ballot.motion_id, Ballot.choice)
