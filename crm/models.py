"""Imports every model so that Alembic and `db.create_all()` see the whole schema."""

from crm.accounts.models import AuthToken, User
from crm.audit.models import AuditEvent
from crm.billing.models import GiftAidClaim, Payment, ProcessedStripeEvent, Refund
from crm.contacts.models import Consent, Contact, GiftAidDeclaration, Note
from crm.email.models import OutboxMessage
from crm.events.models import Ballot, Booking, BookingPlace, Event, Meeting, Motion, VoteParticipation
from crm.memberships.models import Membership, MembershipEvent, Plan
from crm.news.models import Page, Post

__all__ = [
    "AuditEvent",
    "AuthToken",
    "Ballot",
    "Booking",
    "BookingPlace",
    "Consent",
    "Contact",
    "Event",
    "GiftAidClaim",
    "GiftAidDeclaration",
    "Meeting",
    "Membership",
    "MembershipEvent",
    "Motion",
    "Note",
    "OutboxMessage",
    "Page",
    "Payment",
    "Plan",
    "Post",
    "ProcessedStripeEvent",
    "Refund",
    "User",
    "VoteParticipation",
]
