"""Content written in two languages (news posts, pages): which version a reader gets.

A post or page has its own `language` and, optionally, the same text in the other language
(`translated_title`, `translated_summary`, `translated_body_html`). The reader sees the version
in their language, the other one when theirs is missing, and a link to the other language when
both exist.
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


def version_for(item: Any, language: str | None) -> Version:
    """The version of `item` for a reader of `language` (see the module docstring)."""
    own = normalise_language(getattr(item, "language", None)) or DEFAULT_LANGUAGE
    translated = other_language(own)
    wanted = normalise_language(language) or own
    both = has_translation(item)
    if wanted == translated and both:
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
