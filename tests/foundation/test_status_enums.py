"""Statuses are enums (issue 25 item 8): code compares and sets a status (a membership's, a
payment's, a booking's, a motion's, a post's, a campaign's, a recipient's, an outbox message's)
with the enum's members, not bare strings typed in many places.

Read from the source with `ast`: a string literal that is one of those enums' values, compared
with (`==`, `!=`, `in`, `.in_()`, `.not_in()`) or assigned to an attribute named `status`, counts.
The models (where the enums are defined) are exempt, and so is the Stripe adapter
(crm/billing/stripe_gateway/), whose `status` fields hold Stripe's own words ("active",
"past_due") and are read nowhere else. KNOWN_BARE_STATUSES is what is left today,
per file: a count may only go down (delete the line when it reaches none), and no file is added.
A file listed here may also hold other domains' statuses that share a word (an email's "failed").
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from crm.billing.models import PaymentStatus
from crm.campaigns.models import CampaignStatus, RecipientStatus
from crm.email.models import OutboxStatus
from crm.events.models import BookingStatus, MotionStatus
from crm.memberships.models import MembershipStatus
from crm.news.models import PostStatus

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
ENUMS = (MembershipStatus, PaymentStatus, BookingStatus, MotionStatus, PostStatus, CampaignStatus,
         RecipientStatus, OutboxStatus)  # fmt: skip
VALUES = {str(s) for enum in ENUMS for s in enum}
ADAPTER = ROOT / "crm" / "billing" / "stripe_gateway"

KNOWN_BARE_STATUSES: dict[str, int] = {}


def _strings(node: ast.AST) -> list[str]:
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]


def _is_status(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "status"


def bare_statuses(source: str) -> list[str]:
    """The enum values written as bare strings against a `.status` in this source."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and _is_status(node.left):
            for comparator in node.comparators:
                found += _strings(comparator)
        elif isinstance(node, ast.Assign) and any(_is_status(t) for t in node.targets):
            found += _strings(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("in_", "not_in")
            and _is_status(node.func.value)
        ):
            for argument in node.args:
                found += _strings(argument)
    return [value for value in found if value in VALUES]


def bare_status_counts(root: Path) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for path in sorted((root / "crm").rglob("*.py")):
        if path.name == "models.py" or path.is_relative_to(ADAPTER):
            continue
        n = len(bare_statuses(path.read_text(encoding="utf-8")))
        if n:
            counts[str(path.relative_to(root))] = n
    return dict(counts)


def test_no_new_bare_status_strings_and_the_known_ones_only_shrink() -> None:
    counts = bare_status_counts(ROOT)
    grown = {p: n for p, n in counts.items() if n > KNOWN_BARE_STATUSES.get(p, 0)}
    assert not grown, (
        f"use the status enum (MembershipStatus, PaymentStatus, ...), not a bare string: {grown} "
        f"(known: { {p: KNOWN_BARE_STATUSES.get(p, 0) for p in grown} })"
    )
    shrunk = {p: counts.get(p, 0) for p, n in KNOWN_BARE_STATUSES.items() if counts.get(p, 0) < n}
    assert not shrunk, f"fewer bare statuses now: lower (or delete) these in KNOWN_BARE_STATUSES: {shrunk}"


def test_a_bare_status_is_found_and_an_enum_member_is_not() -> None:
    source = (
        'if m.status == "active" or m.status in ("grace", "lapsed"):\n'
        '    m.status = "cancelled"\n'
        'q = select(Payment).where(Payment.status.in_(("paid",)))\n'
        "ok = m.status == MembershipStatus.ACTIVE\n"
        'other = outbox.status == "queued"\n'
        "sent = outbox.status == OutboxStatus.SENT\n"
    )
    assert sorted(bare_statuses(source)) == ["active", "cancelled", "grace", "lapsed", "paid", "queued"]


#: A template comparing a record's status (or an event's kind) with a typed word, e.g.
#: `b.status == 'cancelled'` or `e.kind in ("agm",)`; page variables (`state == "done"`) are not records.
_TEMPLATE_BARE = re.compile(r"""\.(status|kind)\s*(==|!=|(not\s+)?in\b)\s*[\[(]?\s*["']""")


def test_templates_compare_statuses_with_the_enums_the_app_gives_them() -> None:
    """Templates get the enums as Jinja globals (crm.register_template_globals)."""
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "templates").rglob("*"))
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _TEMPLATE_BARE.search(line)
    ]
    assert not found, f"compare with the enum (BookingStatus.CANCELLED ...), not a word: {found}"
