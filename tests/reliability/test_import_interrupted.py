"""R12: a CSV import killed half-way, then run again on the same file, ends with every member once.

`flask crm import-members FILE` runs as a real subprocess. It commits a chunk of rows at a time and,
off a terminal, logs a "committed: X of Y rows read" line after each commit; the test SIGKILLs it on
the first line past half the file. Then the same command runs again on the same file.

`make test` kills a 2,000-row import in chunks of 250 (eight chunks: the same kill between whole
chunks and the same re-run as at any size, in a few seconds); `make soak` (marker `soak`) kills the
checklist's 100,000 members in the default chunks of 2,000, which took 14-24 s on SQLite and 32-47 s
on PostgreSQL on these shared machines. CRM_IMPORT_KILL_ROWS=N sets the soak size; the kill is at N/2.
"""

from __future__ import annotations

import os
import re
import subprocess  # noqa: S404  (fixed argument lists, no shell)
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.contacts.models import Consent, Contact
from crm.extensions import db
from crm.memberships.models import Membership, MembershipEvent
from crm.staff.import_service import DEFAULT_CHUNK
from tests.reliability.conftest import count

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
#: (members, rows per chunk): `make test` kills a 2,000-row import of eight chunks; `make soak` the
#: 100,000 rows issue 7 asks for (or CRM_IMPORT_KILL_ROWS) in the default chunks.
SIZES = [
    pytest.param(2_000, 250, id="2k"),
    pytest.param(
        int(os.environ.get("CRM_IMPORT_KILL_ROWS") or 100_000),
        DEFAULT_CHUNK,
        id="soak",
        marks=pytest.mark.soak,
    ),
]
HEADER = "email,first_name,last_name,postcode,plan,status,joined,paid_through,email_consent"


def _write_file(path: Path, members: int) -> dict[int, str]:
    """`members` good rows (every third email in odd case and spaces) and four bad rows, two of
    them before half-way; returns line number -> the reason the import must give for it."""
    bad_after = {
        members // 50: ("not-an-email,Bad,Email,,,,,,", "is not a valid email address"),
        members // 3: ("MEMBER1@example.org,Ana,Again,,,,,,", "the same email address is already on line 3"),
        members * 2 // 3: (
            "baddate@example.org,Bad,Date,,standard-yearly,active,31/02/2024,2027-01-01,yes",
            "is not a date",
        ),
        members - 1: ("noplan@example.org,No,Plan,,platinum,active,,2027-01-01,yes", "unknown plan"),
    }
    lines, bad = [HEADER], {}
    for i in range(members):
        email = f" Member{i}@Example.ORG " if i % 3 == 1 else f"member{i}@example.org"
        lines.append(
            f"{email},First{i},Last{i},N1 {i % 10}AA,standard-yearly,active,01/02/2024,2027-02-01,yes"
        )
        if i in bad_after:
            row, reason = bad_after[i]
            lines.append(row)
            bad[len(lines)] = reason
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return bad


def _import_command(
    path: Path, database_url: str, tmp_path: Path, chunk: int
) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "CRM_ENV": "development",
        "CRM_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "crm"]
    return [*flask, "import-members", str(path), "--chunk-size", str(chunk)], env


def _committed(line: str) -> int | None:
    match = re.match(r"committed: ([\d,]+) of", line)
    return int(match.group(1).replace(",", "")) if match else None


@pytest.mark.parametrize(("members", "chunk"), SIZES)
def test_an_import_killed_half_way_and_run_again_holds_every_member_once_and_reports_every_bad_row(
    app, plans, tmp_path, members, chunk
):
    path = tmp_path / "members.csv"
    bad = _write_file(path, members)
    total = members + len(bad)
    command, env = _import_command(path, app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, chunk)
    db.session.remove()  # hold no SQLite lock while the command writes

    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    log: list[str] = []
    try:
        for line in process.stderr:  # one line per committed chunk (stderr is not a terminal)
            log.append(line.rstrip("\n"))
            if (_committed(line) or 0) >= members // 2:
                process.kill()
                break
    finally:
        process.kill()
        process.stderr.close()
        process.wait(timeout=10)
    killed_after = time.monotonic() - started
    assert process.returncode == -9, f"the import ended before it could be killed: {log[-3:]}"
    read_when_killed = _committed(log[-1])
    assert read_when_killed is not None and members // 2 <= read_when_killed < total, log[-3:]
    created_when_killed = int(re.search(r"created ([\d,]+)", log[-1]).group(1).replace(",", ""))

    # What the killed run leaves: whole chunks (each contact with its membership), its own log
    # line of how far it got, and an import that started and never finished in the audit trail.
    kept = count(Contact)
    # What the log says was committed (one more chunk may have been committed before the kill
    # landed, two when the machine is loaded and the chunks are small).
    assert created_when_killed <= kept <= created_when_killed + 2 * chunk, (kept, log[-1])
    assert kept < members
    assert count(Membership) == kept
    assert count(AuditEvent, AuditEvent.action == "import.members.start") == 1
    assert count(AuditEvent, AuditEvent.action == "import.members") == 0

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr[-2000:]
    finished_after = time.monotonic() - started
    summary = (
        f"Rows: {total:,}  created: {members - kept:,}  updated: 0  unchanged: {kept:,}  errors: {len(bad)}"
    )
    assert summary in again.stdout, again.stdout[-500:]
    for line, reason in bad.items():  # the bad rows before the kill are reported again too
        assert re.search(rf"^line {line}: .*{re.escape(reason)}", again.stderr, re.MULTILINE), (line, reason)

    # Every member exactly once, matched on the normalised email.
    emails = set(db.session.scalars(select(Contact.email)))
    db.session.commit()
    assert emails == {f"member{i}@example.org" for i in range(members)}
    assert count(Contact) == members
    assert count(Membership) == members
    assert db.session.scalar(select(func.count(func.distinct(Membership.contact_id)))) == members
    assert count(MembershipEvent) == members  # one "imported" event each, none repeated
    assert count(Consent) == members  # the consent is recorded once, not again on the re-run
    numbers = db.session.scalar(select(func.count(func.distinct(Contact.member_number))))
    assert numbers == members
    # The report of the finished run is kept in the audit trail, with the bad lines.
    finished = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "import.members")).one()
    assert finished.after["rows"] == total and finished.after["errors"] == len(bad)
    assert finished.after["created"] == members - kept and finished.after["unchanged"] == kept
    assert [int(re.match(r"line (\d+)", e).group(1)) for e in finished.after["first_errors"]] == sorted(bad)
    assert count(AuditEvent, AuditEvent.action == "import.members.start") == 2
    print(f"\n{members:,} rows: killed at {killed_after:.1f} s, re-run finished at {finished_after:.1f} s")
