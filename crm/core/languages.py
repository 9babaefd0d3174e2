"""The languages the site speaks. Plain values: importable from any layer (so they live in core)."""

from __future__ import annotations

#: Language codes, in the order the switch shows them.
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
#: The name of each language in itself, as the switch shows it.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
#: The cookie that keeps a reader's explicit choice (a year).
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


#: How people write the languages in a spreadsheet column.
_SPELLINGS = {"english": "en", "inglés": "en", "ingles": "en", "spanish": "es", "español": "es",
              "espanol": "es", "castellano": "es"}  # fmt: skip


def language_from_text(value: str) -> str | None:
    """'es', 'Spanish', 'Español', 'castellano' -> 'es'; unknown -> None."""
    text = (value or "").strip().lower()
    return _SPELLINGS.get(text) or normalise_language(text)


def normalise_language(value: str | None) -> str | None:
    """'es', 'ES', 'es-MX', 'es_ES' -> 'es'; unknown or empty -> None."""
    if not value or not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if code in LANGUAGES else None
