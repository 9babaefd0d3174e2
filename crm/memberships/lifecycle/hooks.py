"""What other domains do when the lifecycle makes someone a member: a registry filled at start-up.

The lifecycle owns the statuses and knows nothing of accounts or email: accounts registers the
step that opens a new member's account and sends the welcome (`create_app` calls its
`init_app`), so the arrow runs accounts -> memberships only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.memberships.models import Membership

FirstActivationHook = Callable[["Membership"], None]

_first_activation: dict[str, FirstActivationHook] = {}


def on_first_activation(key: str, hook: FirstActivationHook) -> None:
    """Run `hook(membership)` each time a membership becomes active from pending, lapsed,
    cancelled or expired (after its member number is assigned); registering a key again replaces it."""
    _first_activation[key] = hook


def run_first_activation_hooks(membership: Membership) -> None:
    for hook in _first_activation.values():
        hook(membership)
