"""The languages the site speaks. Plain values: importable from any layer."""

from __future__ import annotations

#: Language codes, in the order the switch shows them.
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
#: The name of each language in itself, as the switch shows it.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
#: The cookie that keeps a reader's explicit choice (a year).
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600
#: For forms: (code, name) pairs.
LANGUAGE_CHOICES = [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]


def normalise_language(value: str | None) -> str | None:
    """'es', 'ES', 'es-MX', 'es_ES' -> 'es'; unknown or empty -> None."""
    if not value or not isinstance(value, str):
        return None
    code = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if code in LANGUAGES else None
