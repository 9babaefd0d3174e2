"""Statuses are enums (issue 25 item 8): code compares and sets a membership's or a payment's
status with MembershipStatus / PaymentStatus members, not bare strings typed in many places.

Read from the source with `ast`: a string literal that is one of those enums' values, compared
with (`==`, `!=`, `in`, `.in_()`, `.not_in()`) or assigned to an attribute named `status`, counts.
The models (where the enums are defined) are exempt. KNOWN_BARE_STATUSES is what is left today,
per file: a count may only go down (delete the line when it reaches none), and no file is added.
A file listed here may also hold other domains' statuses that share a word (an email's "failed").
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from crm.billing.models import PaymentStatus
from crm.memberships.models import MembershipStatus

ROOT = Path(__file__).resolve().parents[2]
VALUES = {str(s) for s in MembershipStatus} | {str(s) for s in PaymentStatus}

KNOWN_BARE_STATUSES: dict[str, int] = {
    "crm/audiences/filters.py": 1,
    "crm/campaigns/sending.py": 1,  # a recipient's "pending", not a membership's
    "crm/campaigns/services.py": 1,
    "crm/staff/outbox.py": 1,  # an email's "failed", not a payment's
}


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
        if path.name == "models.py":
            continue
        n = len(bare_statuses(path.read_text(encoding="utf-8")))
        if n:
            counts[str(path.relative_to(root))] = n
    return dict(counts)


def test_no_new_bare_status_strings_and_the_known_ones_only_shrink() -> None:
    counts = bare_status_counts(ROOT)
    grown = {p: n for p, n in counts.items() if n > KNOWN_BARE_STATUSES.get(p, 0)}
    assert not grown, (
        f"use MembershipStatus / PaymentStatus, not a bare string, for a status: {grown} "
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
    )
    assert sorted(bare_statuses(source)) == ["active", "cancelled", "grace", "lapsed", "paid"]
