"""The type checker covers every module (issue 25 item 11): no module is skipped, and each
`type: ignore` names its error code and says why on the same line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]+\])?(?P<rest>.*)$")


def _ignores_without_a_reason(root: Path) -> list[str]:
    found = []
    for folder in ("crm", "devtools"):
        for path in sorted((root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                match = IGNORE.search(line)
                if match and (not match["codes"] or not re.match(r"\s*#\s*\S", match["rest"])):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_every_type_ignore_names_its_code_and_gives_a_reason() -> None:
    found = _ignores_without_a_reason(ROOT)
    assert not found, "write `# type: ignore[code]  # why` (or fix the type):\n" + "\n".join(found)


def test_an_ignore_without_a_reason_is_found(tmp_path: Path) -> None:
    (tmp_path / "crm").mkdir()
    (tmp_path / "devtools").mkdir()
    (tmp_path / "crm" / "a.py").write_text(
        "x = f()  # type: ignore[attr-defined]\ny = g()  # type: ignore\n"
        "z = h()  # type: ignore[misc]  # h is untyped\n",
        encoding="utf-8",
    )
    assert [line.split(":")[1] for line in _ignores_without_a_reason(tmp_path)] == ["1", "2"]


def test_mypy_skips_no_module_and_reports_unused_ignores() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    skipped = [o["module"] for o in config.get("overrides", []) if o.get("ignore_errors")]
    assert not skipped, f"these modules are not type-checked: {skipped}"
    assert config.get("warn_unused_ignores") is True
