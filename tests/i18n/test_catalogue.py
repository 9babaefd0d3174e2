"""The Spanish catalogue is complete: every user-facing string in crm/ and templates/ has a
Spanish translation that is not fuzzy and keeps the English placeholders, and the compiled
catalogue the app loads is the one the .po file says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

ROOT = Path(__file__).resolve().parent.parent.parent
PO = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
_PERCENT = re.compile(r"%\((\w+)\)[sdif]|%[sdif]")
_BRACES = re.compile(r"\{(\w*)\}")


def placeholders(text: str) -> tuple[list[str], set[str]]:
    """The %(name)s placeholders (as a sorted list: each counts) and the {name} ones of `text`."""
    return sorted(m.group(0) for m in _PERCENT.finditer(text)), set(_BRACES.findall(text))


def placeholder_problem(english: str, spanish: str) -> str | None:
    if placeholders(english) != placeholders(spanish):
        return f"placeholders differ: {placeholders(english)} vs {placeholders(spanish)}"
    return None


def extracted_messages() -> set[str]:
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            found.update(part for part in message if part)
        elif message:
            found.add(message)
    return found


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    with PO.open("rb") as handle:
        return read_po(handle, locale="es")


def _translations(catalogue) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[str]] = {}
    for message in catalogue:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(strings):
            for msgid in ids:
                out[msgid] = list(strings)
    return out


def test_every_extracted_string_has_a_spanish_translation_that_is_not_fuzzy(catalogue) -> None:  # type: ignore[no-untyped-def]
    translated = _translations(catalogue)
    missing = sorted(extracted_messages() - set(translated))
    assert not missing, "untranslated or fuzzy (run `make translations`, then translate):\n" + "\n".join(
        missing
    )


def test_every_translation_keeps_the_english_placeholders(catalogue) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for spanish in strings:
            problem = placeholder_problem(ids[-1], spanish) if spanish else None
            if problem:
                problems.append(f"{ids[0]!r}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("english", "spanish"),
    [
        ("Page %(num)d", "Página %(número)d"),  # a renamed placeholder
        ("%(amount)s a year", "al año"),  # a dropped one
        ("Dear {name}", "Estimado/a {nombre}"),
    ],
)
def test_a_broken_placeholder_is_caught(english: str, spanish: str) -> None:
    assert placeholder_problem(english, spanish)


def test_the_compiled_catalogue_matches_the_po_file(catalogue) -> None:  # type: ignore[no-untyped-def]
    def plain(value):  # type: ignore[no-untyped-def]
        # A plural message is a list when read from the .mo file and a tuple from the .po file.
        return tuple(value) if isinstance(value, list | tuple) else value

    with MO.open("rb") as handle:
        compiled = {plain(m.id): plain(m.string) for m in read_mo(handle) if m.id}
    expected = {plain(m.id): plain(m.string) for m in catalogue if m.id and not m.fuzzy}
    assert compiled == expected, "run `make translations` (or `pybabel compile -d translations`)"
