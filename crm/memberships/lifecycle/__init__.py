"""The membership lifecycle: the one module that owns the rules between statuses.

The webhook, staff actions, the member's own actions and the daily job all call these
functions; each change writes an append-only MembershipEvent (from, to, reason, who or which
Stripe event, amount, paid-through). Functions flush; the caller commits.

The audit trail is the caller's: a staff action writes one audit row with the state before and
after (crm/staff/membership_changes.py), so these functions write MembershipEvent history only.

Statuses (see memberships/models.py):
- pending: checkout started, not paid; expires after PENDING_EXPIRY_HOURS or on
  checkout.session.expired, and never blocks a new attempt (it is reused).
- direct_debit_pending ("Direct Debit being set up"): the supporter completed Checkout with Bacs
  Direct Debit and the first collection has not settled yet (about three working days). Access
  rule: no members' access yet (they read public news, as any signed-in supporter, not members'
  news), because the money may still fail to arrive; it does block a second join. It becomes
  active when the collection succeeds (checkout.session.async_payment_succeeded or invoice.paid)
  and expired when it fails (`fail_direct_debit`); it never expires on a timer.
- active: paid or granted, until `paid_through` (none for life and complimentary memberships).
- grace: a renewal failed (Stripe past_due) or a fixed-term membership passed its paid-through
  date unrenewed; access continues until `grace_until`.
- lapsed: grace over, Stripe gave up, or a member-cancelled membership reached its end.
- cancelled: ended at once by staff (or after a full refund, when staff choose so).
- suspended: staff only; paying does not lift it.
- expired: a stale pending checkout.
Members' access is active or grace, nothing else.

Rejoining after a lapse creates a new membership row (one row per Stripe subscription) and the
new row copies the contact's original `joined_at`, so the join date and the old rows' history
are kept.

Cancel at period end: `set_auto_renew(m, False)` keeps the membership active and sets
`cancelled_at` to when the member asked; the daily job (or Stripe's subscription.deleted) lapses
it once `paid_through` passes. Turning auto-renew back on clears `cancelled_at`.
The package splits the one owner by responsibility: `states` (the state table), `transitions`
(every change), `offline` (staff-recorded payments and grants), `timed` (the daily job's
set-based changes), `returned` (a payment that fails after it looked paid), `joint` (the second
adult of a joint plan follows the paying membership), `explanations` (reading), `periods` and
`numbers`. Callers use
`lifecycle.<name>` as before.
"""

from __future__ import annotations

from crm.memberships.lifecycle.explanations import (
    current_membership,
    has_access,
    latest_membership,
    status_explanation,
    was_in_good_standing,
)
from crm.memberships.lifecycle.facts import refresh_membership_status
from crm.memberships.lifecycle.joint import (
    PartnerNotAllowed,
    end_joint_link,
    follower_of,
    joint_partners,
    name_partner,
    paid_for_by_partner,
)
from crm.memberships.lifecycle.numbers import assign_member_number, member_number_for
from crm.memberships.lifecycle.offline import extend_for_offline_payment, grant_complimentary
from crm.memberships.lifecycle.periods import add_months, grace_days, period_end
from crm.memberships.lifecycle.returned import first_collection_returned, renewal_returned
from crm.memberships.lifecycle.states import (
    ACCESS_STATUSES,
    CURRENT_STATUSES,
    MAX_OFFLINE_AMOUNT,
    MEMBER_STATUSES,
    RESTARTABLE_STATUSES,
    STATUS_WORDS,
    STRIPE_RENEWAL_SLACK,
    AlreadyMember,
    MembershipStatus,
)
from crm.memberships.lifecycle.timed import (
    expire_stale_pending,
    lapse_after_grace,
    lapse_cancelled_at_period_end,
    move_overdue_to_grace,
    run_daily,
)
from crm.memberships.lifecycle.transitions import (
    activate_from_payment,
    await_direct_debit,
    cancel_now,
    change_plan,
    ends_at_period_end,
    enter_grace,
    expire_pending,
    extend,
    fail_direct_debit,
    lapse,
    set_auto_renew,
    start_pending,
    suspend,
    unsuspend,
)

__all__ = [
    "refresh_membership_status",
    "ACCESS_STATUSES",
    "CURRENT_STATUSES",
    "MAX_OFFLINE_AMOUNT",
    "MEMBER_STATUSES",
    "RESTARTABLE_STATUSES",
    "STATUS_WORDS",
    "STRIPE_RENEWAL_SLACK",
    "AlreadyMember",
    "MembershipStatus",
    "PartnerNotAllowed",
    "activate_from_payment",
    "add_months",
    "assign_member_number",
    "await_direct_debit",
    "cancel_now",
    "change_plan",
    "current_membership",
    "ends_at_period_end",
    "end_joint_link",
    "enter_grace",
    "expire_pending",
    "expire_stale_pending",
    "extend",
    "extend_for_offline_payment",
    "fail_direct_debit",
    "first_collection_returned",
    "follower_of",
    "joint_partners",
    "grace_days",
    "grant_complimentary",
    "has_access",
    "lapse",
    "lapse_after_grace",
    "lapse_cancelled_at_period_end",
    "latest_membership",
    "member_number_for",
    "move_overdue_to_grace",
    "name_partner",
    "paid_for_by_partner",
    "period_end",
    "renewal_returned",
    "run_daily",
    "set_auto_renew",
    "start_pending",
    "status_explanation",
    "suspend",
    "unsuspend",
    "was_in_good_standing",
]
