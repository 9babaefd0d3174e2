"""The Flask application class: Flask itself, with `ensure_sync` remembered per function.

Flask asks `inspect.iscoroutinefunction` about every before-request, after-request and teardown
hook and the view, on every request (13 calls for a page here, ~1.7 us each); the answer for a
function never changes. `ensure_sync` is the method Flask documents for overriding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

#: Functions remembered at most (the app's hooks and views are ~150): past it the memory starts
#: again, so a method bound afresh on every call (a class-based view's) cannot grow it for ever.
REMEMBERED_FUNCTIONS = 1024


class Application(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_of: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        sync = self._sync_of.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(self._sync_of) >= REMEMBERED_FUNCTIONS:
                self._sync_of.clear()
            self._sync_of[func] = sync
        return sync
