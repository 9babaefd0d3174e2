"""What Alembic compares: everything in the models, except the search index objects that
crm/staff/search.py creates by hand (an FTS5 table on SQLite, a trigram index on PostgreSQL)."""

from __future__ import annotations

from typing import Any

HAND_MADE_PREFIXES = ("contact_search", "ix_contact_search_")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (reflected and compare_to is None and (name or "").startswith(HAND_MADE_PREFIXES))
