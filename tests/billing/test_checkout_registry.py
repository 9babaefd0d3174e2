"""The webhook hands a paid Checkout Session to the domain that sold it, and billing never imports
the domains it dispatches to (issue 25, item 2: arrows run one way)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crm.billing import events as billing_events
from crm.billing import stripe_gateway

BILLING = Path(__file__).resolve().parents[2] / "crm" / "billing"


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(BILLING.rglob("*.py")), ids=lambda p: p.name)
def test_billing_imports_neither_join_nor_events(path: Path) -> None:
    upward = {m for m in _imported_modules(path) if m.startswith(("crm.join", "crm.events"))}
    assert upward == set()


@pytest.mark.parametrize(
    ("kind", "owner"),
    [
        ("membership", "crm.join.fulfilment"),
        ("renewal", "crm.join.fulfilment"),
        ("donation", "crm.join.fulfilment"),
        ("", "crm.join.fulfilment"),
        ("event_booking", "crm.events.payments"),
    ],
)
def test_the_app_registers_each_checkout_kind_with_the_domain_that_sells_it(
    app, kind: str, owner: str
) -> None:
    session = stripe_gateway.checkout_result({"id": "cs_1", "metadata": {"kind": kind} if kind else {}})
    handler = billing_events.checkout_handler_for(session)
    assert handler is not None and handler.__module__ == owner
