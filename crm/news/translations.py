"""A post or page in a second language: staff write it beside the first (crm.i18n.content
decides which version a reader sees)."""

from __future__ import annotations

from crm.core.languages import DEFAULT_LANGUAGE, normalise_language
from crm.core.markup import render_markdown
from crm.news.models import Page, Post


def save_translation(
    item: Post | Page, *, language: str, title: str, body_markdown: str, summary: str = ""
) -> None:
    """Set the language of `item`'s main text and its version in the other language (all empty:
    no translation). The body is rendered and sanitised now, never at read time."""
    item.language = normalise_language(language) or DEFAULT_LANGUAGE
    item.translated_title = (title or "").strip()
    item.translated_body_markdown = body_markdown or ""
    item.translated_body_html = render_markdown(body_markdown) if (body_markdown or "").strip() else ""
    if isinstance(item, Post):
        item.translated_summary = (summary or "").strip()
