"""Text as staff search for it: lower case, accents folded ("López" is found as "lopez")."""

from __future__ import annotations

#: Accented letters folded to their base letter, the same way in the search index and in the query
#: on both databases (Spanish, Portuguese and French accents, ñ and ç).
FOLD_FROM = "áàâäãåéèêëíìîïóòôöõúùûüñçýÿ"
FOLD_TO = "aaaaaaeeeeiiiiooooouuuuncyy"
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def fold(value: str) -> str:
    """Lower case without accents: what the search index holds, and what a query is matched as."""
    return value.lower().translate(_FOLD_TABLE)


def sqlite_fold(value: str | None) -> str | None:
    """`crm_fold(text)` on SQLite connections (crm.core.database): SQLite has no translate() and
    its lower() is ASCII only."""
    return None if value is None else fold(value)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 plan", "2,345 plans": a count and its noun, in English (staff pages, the command line);
    pages a supporter reads use the i18n `ngettext` instead."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
