"""Form pieces for choosing a language."""

from __future__ import annotations

from wtforms.fields.choices import SelectChoice

from crm.core.languages import LANGUAGE_NAMES, LANGUAGES

#: The choices of a "language" select: each language named in itself.
LANGUAGE_CHOICES = [SelectChoice(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]
