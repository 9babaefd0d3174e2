"""No page or email says "1 rows" (issue 26 item 12): a count printed before a plural noun has a
singular branch, like `{{ n }} row{{ "" if n == 1 else "s" }}`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

#: `{{ anything }}` followed by a word ending in "s": a count before a bare plural noun.
BARE_PLURAL = re.compile(r"\{\{(?P<expr>[^}]*)\}\}[ \u00a0]+(?P<word>[a-z]+s)\b")
#: Words ending in "s" that are not plural nouns ("{{ name }} has", "{{ plan }} is").
NOT_PLURAL = {"is", "was", "has", "does", "as", "this", "its", "plus", "us", "yes", "always", "across"}
#: A count that is a constant in code and never 1: a link's lifetime (15 or 60 minutes).
CONSTANT_COUNTS = {"minutes"}
#: A literal number one before a plural noun, e.g. "Import 1 rows".
ONE_PLURAL = re.compile(
    r"(?<![\d.,£$])\b1[ \u00a0]+(rows|members|contacts|payments|items|days|changes|emails|people)\b"
)


def _bare_plurals(text: str) -> list[str]:
    found = []
    for match in BARE_PLURAL.finditer(text):
        expr, word = match["expr"].strip(), match["word"]
        if word in NOT_PLURAL or expr in CONSTANT_COUNTS:
            continue
        found.append(match.group(0))
    return found + [m.group(0) for m in ONE_PLURAL.finditer(text)]


def test_no_template_prints_a_count_before_a_bare_plural() -> None:
    offenders = {
        str(path.relative_to(TEMPLATES)): found
        for path in sorted(TEMPLATES.rglob("*"))
        if path.suffix in (".html", ".txt") and (found := _bare_plurals(path.read_text(encoding="utf-8")))
    }
    assert not offenders, f"counts before a plural with no singular branch: {offenders}"


def test_the_check_finds_the_patterns_it_is_meant_to() -> None:
    assert _bare_plurals("Import {{ n }} rows") == ["{{ n }} rows"]
    assert _bare_plurals("({{ m.events|length }} changes)") == ["{{ m.events|length }} changes"]
    assert _bare_plurals("Import 1 rows") == ["1 rows"]
    assert _bare_plurals('{{ n }} row{{ "" if n == 1 else "s" }} read.') == []
    assert _bare_plurals("{{ plan.name }} is open; £1 members") == []


#: "3 contact(s) match": a word with "(s)" stuck on instead of a singular and a plural.
PAREN_PLURAL = re.compile(r"[a-z]\(s\)")
CRM = TEMPLATES.parent / "crm"


def test_no_page_script_or_message_says_contact_s() -> None:
    sources = [*TEMPLATES.rglob("*.html"), *TEMPLATES.rglob("*.txt"), *CRM.rglob("*.js"), *CRM.rglob("*.py")]
    offenders = [
        f"{path.relative_to(TEMPLATES.parent)}:{number}: {line.strip()}"
        for path in sorted(sources)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PAREN_PLURAL.search(line) and "log." not in line  # log lines are for developers
    ]
    assert not offenders, "write a singular and a plural (crm.core.text.counted):\n" + "\n".join(offenders)


def test_a_count_says_one_in_the_singular() -> None:
    from crm.core.text import counted

    assert counted(1, "contact") == "1 contact"
    assert counted(2345, "contact") == "2,345 contacts"
    assert counted(0, "person", "people") == "0 people"
