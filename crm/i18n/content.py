"""Content written in two languages: which version a reader gets (`shown_language`, the rule).

A post or page has its own `language` and, optionally, the same text in the other language
(`translated_title`, `translated_summary`, `translated_body_html`). The reader sees the version
in their language, the other one when theirs is missing, and a link to the other language when
both exist. Plans, events and AGM motions are written in English with an optional Spanish version of
each field (`name_es`, `title_es`, ...): `localised` picks by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.core.languages import DEFAULT_LANGUAGE, LANGUAGES, normalise_language


@dataclass(frozen=True)
class Version:
    """The text of a post or page in one language."""

    language: str
    title: str
    summary: str
    body_html: str
    #: The other language this item is also written in, or None.
    other_language: str | None


def other_language(language: str) -> str:
    return next(code for code in LANGUAGES if code != language)


def has_translation(item: Any) -> bool:
    return bool((getattr(item, "translated_title", "") or "").strip())


def shown_language(own: str, wanted: str | None, translated: bool) -> str:
    """The language a reader of `wanted` is shown content written in `own` (and, when
    `translated`, in the other language too): theirs when it is there, else the written one."""
    wanted = normalise_language(wanted) or own
    return wanted if wanted != own and translated else own


def version_for(item: Any, language: str | None) -> Version:
    """The version of `item` for a reader of `language` (see the module docstring)."""
    own = normalise_language(getattr(item, "language", None)) or DEFAULT_LANGUAGE
    translated = other_language(own)
    both = has_translation(item)
    if shown_language(own, language, both) == translated:
        return Version(
            language=translated,
            title=item.translated_title,
            summary=getattr(item, "translated_summary", "") or "",
            body_html=getattr(item, "translated_body_html", "") or "",
            other_language=own,
        )
    return Version(
        language=own,
        title=item.title,
        summary=getattr(item, "summary", "") or "",
        body_html=getattr(item, "body_html", "") or "",
        other_language=translated if both else None,
    )


def in_current_language(item: Any, language: str | None = None) -> Version:
    """Jinja filter `in_language`: the version for this request's language (or `language`)."""
    if language is None:
        from crm.i18n import current_language

        language = current_language()
    return version_for(item, language)


def localised_text(english: str | None, spanish: str | None, language: str | None = None) -> str:
    """English content with an optional Spanish version, for this request's reader (or a reader
    of `language`): Jinja global `localised_text` (emails pass both, a plan's `plan_name_es`)."""
    if language is None:
        from crm.i18n import current_language

        language = current_language()
    spanish = spanish or ""
    return spanish if shown_language("en", language, bool(spanish.strip())) == "es" else english or ""


def localised(item: Any, field: str, language: str | None = None) -> str:
    """Jinja filter `localised`: `item.<field>`, or its Spanish `<field>_es` for a Spanish reader
    when written (`plan | localised("name")`, `motion | localised("text_html")`)."""
    return localised_text(getattr(item, field, ""), getattr(item, f"{field}_es", ""), language)
