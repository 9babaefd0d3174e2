"""Short-lived per-process caches of what every page shows (the navigation, the news list).

A value is kept for a few seconds (a setting, read on each miss) and dropped at once in this
process when one of the models it is built from is inserted, updated or deleted through the ORM.
Other processes (the other gunicorn workers) pick a change up when their copy expires, so the
time-to-live bounds how stale a page can be. Values must be plain and immutable (tuples, strings,
Markup): they are shared between requests and threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session


class ProcessCache:
    """A small time-limited cache, one per app (its entries live in `app.extensions`); `clear()`
    makes every entry read before it stale, in every app of the process."""

    def __init__(self, name: str, ttl_setting: str, default_ttl: float, max_entries: int = 256) -> None:
        self.name = name
        self.ttl_setting = ttl_setting
        self.default_ttl = default_ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._generation = 0

    def ttl(self) -> float:
        return float(current_app.config.get(self.ttl_setting, self.default_ttl))

    def _entries(self) -> dict[Hashable, tuple[int, float, Any]]:
        return current_app.extensions.setdefault(f"crm_cache:{self.name}", {})

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        entries = self._entries()
        entry = entries.get(key)
        if entry is not None and entry[0] == self._generation and entry[1] > now:
            return entry[2]
        generation = self._generation
        value = compute()
        ttl = self.ttl()
        if ttl > 0:
            with self._lock:
                if len(entries) >= self.max_entries:
                    entries.clear()
                entries[key] = (generation, now + ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1

    def changed_in(self, session: Session | None) -> None:
        """Clear now and again when `session` commits (for writes that bypass the ORM events,
        such as a bulk UPDATE)."""
        self.clear()
        if session is not None:
            session.info[self._flag] = True

    @property
    def _flag(self) -> str:
        return f"crm_cache_changed:{self.name}"


def clear_on_change(cache: ProcessCache, *models: type) -> None:
    """Clear `cache` whenever a row of one of `models` is written through the ORM, and once more
    when that transaction commits (a request reading between the flush and the commit would
    otherwise cache the old rows again)."""

    def changed(_mapper: Any, _connection: Any, target: Any) -> None:
        cache.changed_in(Session.object_session(target))

    for model in models:
        for name in ("after_insert", "after_update", "after_delete"):
            event.listen(model, name, changed)

    @event.listens_for(Session, "after_commit")
    def committed(session: Session) -> None:
        if session.info.pop(cache._flag, False):
            cache.clear()
