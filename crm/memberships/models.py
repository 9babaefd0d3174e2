"""Plans, memberships and the append-only history of every membership change."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.types import UTCDateTime, utcnow
from crm.extensions import Model

if TYPE_CHECKING:
    from crm.contacts.models import Contact

INTERVALS = ("month", "year", "lifetime")
#: How staff read a plan's billing interval (the plan form and the plans list).
INTERVAL_LABELS = {"month": "Monthly", "year": "Yearly", "lifetime": "Lifetime (one payment)"}


class MembershipStatus(StrEnum):
    """Every status a membership can be in; the rules between them live in memberships/lifecycle/.

    A StrEnum equals its string, so the database column, templates and JSON keep plain strings."""

    PENDING = "pending"
    DIRECT_DEBIT_PENDING = "direct_debit_pending"
    ACTIVE = "active"
    GRACE = "grace"
    LAPSED = "lapsed"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


STATUSES = tuple(MembershipStatus)
#: Each status in words, for the staff pages (English only): never the raw code.
STATUS_NAMES: dict[str, str] = {
    MembershipStatus.PENDING: "Pending",
    MembershipStatus.DIRECT_DEBIT_PENDING: "Direct Debit being set up",
    MembershipStatus.ACTIVE: "Active",
    MembershipStatus.GRACE: "In grace",
    MembershipStatus.LAPSED: "Lapsed",
    MembershipStatus.CANCELLED: "Cancelled",
    MembershipStatus.SUSPENDED: "Suspended",
    MembershipStatus.EXPIRED: "Expired",
}


def status_name(status: str | None) -> str:
    """A membership status as staff read it ("In grace", not "grace")."""
    return STATUS_NAMES.get(status or "", (status or "").replace("_", " ").capitalize())


#: Statuses that make a membership the contact's current one (at most one per contact).
CURRENT_STATUSES = (
    MembershipStatus.PENDING,
    MembershipStatus.DIRECT_DEBIT_PENDING,
    MembershipStatus.ACTIVE,
    MembershipStatus.GRACE,
    MembershipStatus.SUSPENDED,
)
#: Statuses that give members' access.
ACCESS_STATUSES = (MembershipStatus.ACTIVE, MembershipStatus.GRACE)


class Plan(Model):
    __tablename__ = "membership_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The same in Spanish, shown to Spanish readers when written (crm.i18n.content.localised).
    name_es: Mapped[str] = mapped_column(String(120), default="", server_default="")
    description_es: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Minor units (pence).
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="gbp")
    #: month, year or lifetime
    interval: Mapped[str] = mapped_column(String(10))
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    gift_aid_eligible: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    display_order: Mapped[int] = mapped_column(default=0)
    #: Overrides GRACE_DAYS for this plan when set.
    grace_days: Mapped[int | None]
    #: Two adults at one address: the join form names the second one, who becomes a member too.
    joint: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def recurring(self) -> bool:
        return self.interval in ("month", "year")


class Membership(Model):
    __tablename__ = "membership"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Indexed with the status (ix_membership_contact_status, below).
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("membership_plan.id"), index=True)
    #: Indexed only as the first column of ix_membership_status_paid_through (below).
    status: Mapped[str] = mapped_column(String(20))
    #: When they first joined; never changes, even across lapses and rejoins.
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Paid through this moment; none for life and complimentary memberships.
    paid_through: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Grace ends here (set when entering grace).
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    auto_renew: Mapped[bool] = mapped_column(default=False)
    complimentary: Mapped[bool] = mapped_column(default=False)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    #: `created` of the newest Stripe event applied, so an older event never overwrites it.
    stripe_state_at: Mapped[int | None]
    pending_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A joint plan's paying membership: the second adult named on the join form. They get their
    #: own membership row (`joint_primary_id`) once this one is first paid.
    partner_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    #: The second adult's row: the paying membership it follows. Its status, dates and plan are
    #: the primary's, copied by memberships/lifecycle/joint.py on every change; it has no payments.
    joint_primary_id: Mapped[int | None] = mapped_column(ForeignKey("membership.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="memberships", foreign_keys=[contact_id])
    partner: Mapped[Contact | None] = relationship(foreign_keys=[partner_contact_id])
    joint_primary: Mapped[Membership | None] = relationship(
        remote_side=[id], foreign_keys=[joint_primary_id], back_populates="joint_follower"
    )
    joint_follower: Mapped[Membership | None] = relationship(
        foreign_keys=[joint_primary_id], back_populates="joint_primary", uselist=False
    )
    plan: Mapped[Plan] = relationship()
    events: Mapped[list[MembershipEvent]] = relationship(
        back_populates="membership", order_by="MembershipEvent.id"
    )

    @property
    def gives_access(self) -> bool:
        return self.status in ACCESS_STATUSES


#: The dashboard's work lists and the daily run select by status and end date together; a
#: status alone uses it too. Every query on the end date names a status, so the end date has no
#: index of its own: its random order made each imported membership cost a page write more as the
#: table grew (bench: import, 100,000 rows).
Index("ix_membership_status_paid_through", Membership.status, Membership.paid_through)
#: A contact's memberships, and the audience filter's "has a membership in these statuses" answered
#: from the index alone, contact by contact.
Index("ix_membership_contact_status", Membership.contact_id, Membership.status)

_current = "status IN ('pending', 'direct_debit_pending', 'active', 'grace', 'suspended')"
Index(
    "uq_membership_one_current_per_contact",
    Membership.contact_id,
    unique=True,
    sqlite_where=text(_current),
    postgresql_where=text(_current),
)


class MembershipEvent(Model):
    """Append-only: every change of a membership, why, and who or what caused it."""

    __tablename__ = "membership_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    stripe_event_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int | None]
    paid_through: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    membership: Mapped[Membership] = relationship(back_populates="events")
