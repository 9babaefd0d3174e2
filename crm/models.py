"""Imports every model so that Alembic and `db.create_all()` see the whole schema."""

from crm.accounts.models import AuthToken, User
from crm.audiences.models import Audience
from crm.audit.models import AuditEvent
from crm.billing.models import GiftAidClaim, Payment, ProcessedStripeEvent, Refund
from crm.campaigns.models import Campaign, CampaignRecipient
from crm.contacts.models import (
    Consent,
    Contact,
    ContactConsent,
    ContactTag,
    GiftAidDeclaration,
    Note,
    Suppression,
    Tag,
)
from crm.email.models import OutboxMessage
from crm.events.models import Ballot, Booking, BookingPlace, Event, Meeting, Motion, VoteParticipation
from crm.memberships.models import Membership, MembershipEvent, Plan
from crm.news.models import Page, Post

__all__ = [
    "Audience",
    "Campaign",
    "CampaignRecipient",
    "AuditEvent",
    "AuthToken",
    "Ballot",
    "Booking",
    "BookingPlace",
    "Consent",
    "Contact",
    "Event",
    "ContactConsent",
    "ContactTag",
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
    "Suppression",
    "Tag",
    "User",
    "VoteParticipation",
]
