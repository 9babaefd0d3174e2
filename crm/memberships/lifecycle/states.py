"""The lifecycle's state table: which statuses do what, and the words members and staff read."""

from __future__ import annotations

from datetime import timedelta

from crm.memberships.models import ACCESS_STATUSES, CURRENT_STATUSES, STATUSES, Membership, MembershipStatus

__all__ = [
    "ACCESS_STATUSES",
    "CURRENT_STATUSES",
    "MAX_OFFLINE_AMOUNT",
    "MEMBER_STATUSES",
    "RESTARTABLE_STATUSES",
    "STATUSES",
    "STATUS_WORDS",
    "STRIPE_RENEWAL_SLACK",
    "AlreadyMember",
    "MembershipStatus",
]

#: Statuses a payment can (re)activate from, starting a new period.
RESTARTABLE_STATUSES = (
    MembershipStatus.PENDING,
    MembershipStatus.DIRECT_DEBIT_PENDING,
    MembershipStatus.LAPSED,
    MembershipStatus.CANCELLED,
    MembershipStatus.EXPIRED,
)
#: Statuses in which someone is already a member (or is paying by Direct Debit) and must not be
#: asked to pay again.
MEMBER_STATUSES = (
    MembershipStatus.ACTIVE,
    MembershipStatus.GRACE,
    MembershipStatus.SUSPENDED,
    MembershipStatus.DIRECT_DEBIT_PENDING,
)
#: The statuses as members and staff read them.
STATUS_WORDS: dict[str, str] = {
    MembershipStatus.PENDING: "waiting for payment",
    MembershipStatus.DIRECT_DEBIT_PENDING: "Direct Debit being set up",
    MembershipStatus.ACTIVE: "active",
    MembershipStatus.GRACE: "in its grace period",
    MembershipStatus.LAPSED: "lapsed",
    MembershipStatus.CANCELLED: "cancelled",
    MembershipStatus.SUSPENDED: "suspended",
    MembershipStatus.EXPIRED: "expired",
}
#: Stripe renews a subscription up to about an hour after the period ends, and a webhook can be
#: late; the daily job waits this long before treating a Stripe subscription as unpaid.
STRIPE_RENEWAL_SLACK = timedelta(days=3)
MAX_OFFLINE_AMOUNT = 10_000_000  #: minor units (£100,000): a typo guard, not a policy


class AlreadyMember(Exception):
    """The contact already has an active, grace or suspended membership."""

    def __init__(self, membership: Membership) -> None:
        super().__init__(f"contact {membership.contact_id} is already a member ({membership.status})")
        self.membership = membership
