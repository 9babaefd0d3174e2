"""Two different English labels on one page never read the same in Spanish: a Spanish reader
would otherwise see two headings (or two columns, two fields) with the same words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

ROOT = Path(__file__).resolve().parent.parent.parent
PO = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"
#: A heading, legend, column, term or label whose whole text is one translated literal.
LABEL = re.compile(
    r"<(h[1-6]|legend|th|summary|dt|label)\b[^>]*>\s*\{\{\s*_\(\s*(['\"])(.*?)\2\s*\)\s*\}\}", re.S
)


def clashes(template: str, spanish: dict[str, str]) -> list[str]:
    """The Spanish words two different English labels of `template` share."""
    seen: dict[str, str] = {}
    found = []
    for match in LABEL.finditer(template):
        english = match.group(3)
        words = spanish.get(english)
        if not words:
            continue
        if seen.setdefault(words, english) != english:
            found.append(f"{seen[words]!r} and {english!r} both read {words!r}")
    return found


@pytest.fixture(scope="module")
def spanish() -> dict[str, str]:
    with PO.open("rb") as handle:
        catalogue = read_po(handle, locale="es")
    return {m.id: m.string for m in catalogue if isinstance(m.id, str) and isinstance(m.string, str)}


def test_no_page_shows_two_labels_with_the_same_spanish_words(spanish: dict[str, str]) -> None:
    problems = [
        f"{path.relative_to(ROOT)}: {clash}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for clash in clashes(path.read_text(encoding="utf-8"), spanish)
    ]
    assert not problems, "\n".join(problems)


def test_a_clash_is_caught() -> None:
    page = "<h2>{{ _('Your details') }}</h2><h2>{{ _('Your data') }}</h2>"
    assert clashes(page, {"Your details": "Tus datos", "Your data": "Tus datos"})
