"""The hashed lock files pin every requirement at the version the human lists name (`make lock`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.source_only  # reads the source tree only: one pass runs it (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line.strip())
        if match:
            pins[_normalise(match.group(1))] = match.group(2)
    return pins


@pytest.mark.parametrize(
    ("listed", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_the_lock_file_pins_every_requirement_at_its_listed_version_with_hashes(listed, lock):
    wanted = _pins(ROOT / listed)
    if listed == "requirements-dev.txt":
        wanted |= _pins(ROOT / "requirements.txt")
    locked = _pins(ROOT / lock)
    assert wanted, listed
    missing = {name: version for name, version in wanted.items() if locked.get(name) != version}
    assert not missing, f"{lock} is behind {listed} for {missing}: run `make lock`"
    text = (ROOT / lock).read_text()
    for block in re.split(r"\n(?=[a-z0-9])", text):
        if "==" in block.split("\n")[0]:
            assert "--hash=sha256:" in block, block.split("\n")[0]
