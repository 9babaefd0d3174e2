"""The test data factories (factory_boy), shared by every test folder.

Rows are added to the app's session and flushed, never committed: the caller commits when it
needs to, as the hand-made helpers did. `tests/fixtures.py`'s make_contact/make_user and
`tests/memberships/factories.py` build on these; the other folders' helpers are to follow.
"""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from crm.accounts.models import User
from crm.accounts.passwords import hash_password
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships import lifecycle
from crm.memberships.models import Membership, Plan

PASSWORD = "correct horse battery staple"


class _Factory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731  (the app context's session)
        sqlalchemy_session_persistence = "flush"


class ContactFactory(_Factory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    first_name = "Ana"
    last_name = "Torres"
    address_line1 = "1 High Street"
    town = "London"
    postcode = "N1 9GU"
    source = "test"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["email"] = kwargs["email"].lower()
        return super()._create(model_class, *args, **kwargs)


class UserFactory(_Factory):
    """A login with its contact; `password` is hashed with the app's hasher (cheap in tests)."""

    class Meta:
        model = User
        exclude = ("password",)

    password = PASSWORD
    contact = factory.SubFactory(ContactFactory)
    role = "member"
    password_hash = factory.LazyAttribute(lambda user: hash_password(user.password))


class PlanFactory(_Factory):
    class Meta:
        model = Plan

    slug = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda plan: plan.slug.replace("-", " ").title())
    amount = 3600  #: minor units
    interval = "year"


class MembershipFactory(_Factory):
    class Meta:
        model = Membership

    contact = factory.SubFactory(ContactFactory)
    plan = factory.SubFactory(PlanFactory)
    status = "active"

    @factory.post_generation
    def contact_status(membership: Membership, create: bool, extracted: object, **kwargs: object) -> None:
        """A membership row always comes with the contact's status fact, as the lifecycle writes it."""
        if create:
            lifecycle.refresh_membership_status(contact_ids=[membership.contact_id])
