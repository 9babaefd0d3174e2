"""The contact's membership status, kept on the contact for the audience count (issue 21).

`Contact.membership_status` is the status of the contact's current membership (pending, active,
grace, suspended, direct_debit_pending) or, when there is none, of their latest one; "" when they
never had a membership. Only `refresh_membership_status` writes it, and it is called wherever a
status changes: every MembershipEvent the lifecycle writes (one change, a set-based UPDATE, the
import) and a merge that moves memberships to another contact. It reads the memberships back from
the database, so whatever the change, the fact is what the rows say.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, ScalarSelect, case, func, select, update

from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import CURRENT_STATUSES, Membership

#: Contacts refreshed per UPDATE (an import can change 100,000 at once).
CHUNK = 5000


def status_of_contact() -> ScalarSelect[str]:
    """The status the fact should hold for the contact of the enclosing query: the current
    membership first, then the newest row."""
    current_first = case((Membership.status.in_(CURRENT_STATUSES), 0), else_=1)
    return (
        select(Membership.status)
        .where(Membership.contact_id == Contact.id)
        .order_by(current_first, Membership.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _refresh(where: ColumnElement[bool]) -> None:
    """Only rows whose fact changes are written (SQLite's search trigger re-indexes every updated row)."""
    fact = func.coalesce(status_of_contact(), "")
    db.session.execute(
        update(Contact)
        .where(where, Contact.membership_status != fact)
        .values(membership_status=fact, updated_at=Contact.updated_at)
        .execution_options(synchronize_session=False)
    )


def refresh_membership_status(*, contact_ids: Iterable[int] = (), membership_ids: Iterable[int] = ()) -> None:
    """Bring the contacts' `membership_status` up to date after their memberships changed. Flushes first."""
    db.session.flush()
    for ids, column in ((list(contact_ids), Contact.id), (list(membership_ids), None)):
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            if column is not None:
                _refresh(Contact.id.in_(chunk))
            else:
                owners = select(Membership.contact_id).where(Membership.id.in_(chunk))
                _refresh(Contact.id.in_(owners))


def refresh_every_contact() -> None:
    """Every contact at once (the migration's backfill, the seed's bulk load)."""
    _refresh(Contact.id.is_not(None))
