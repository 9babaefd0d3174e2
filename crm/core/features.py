"""Parts of the app an organisation can switch off in its settings (README, "Settings").

Gift Aid is a UK charity's tax relief: an organisation that is not a charity sets
GIFT_AID_ENABLED=false and every Gift Aid question, column and page disappears, and the Gift Aid
routes answer 404 as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app

F = TypeVar("F", bound=Callable[..., Any])


def gift_aid_enabled() -> bool:
    return bool(current_app.config.get("GIFT_AID_ENABLED", True))


def requires_gift_aid(view: F) -> F:
    """A Gift Aid page or action: not found when the organisation has switched Gift Aid off."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not gift_aid_enabled():
            abort(404)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]  # wraps() keeps the view's signature
