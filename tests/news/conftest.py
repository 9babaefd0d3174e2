"""The news tests use the same members (with and without access) as the members' area tests."""

from tests.members_area.conftest import active_member, lapsed_member, other_member, plan  # noqa: F401
