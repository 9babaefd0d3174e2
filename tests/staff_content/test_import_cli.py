"""`flask crm import-members FILE.csv`: progress, summary, errors with line numbers, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select

import crm.staff.import_commands  # noqa: F401  (registers the command until crm/cli.py lists it)
from crm.contacts.models import Contact
from crm.extensions import db
from crm.memberships.models import Membership
from tests.staff_content.conftest import make_plan
from tests.staff_content.test_import import MESSY


def test_cli_imports_a_messy_file_and_reports_bad_lines(runner, tmp_path):
    make_plan()
    db.session.commit()
    path = tmp_path / "members.csv"
    path.write_bytes(b"\xef\xbb\xbf" + MESSY.encode("utf-8"))
    result = runner.invoke(args=["crm", "import-members", str(path)])
    assert result.exit_code == 0, result.output
    assert "created: 3  updated: 0  unchanged: 0  errors: 6" in result.output
    assert "line 3: " in result.output and "line 9: missing columns" in result.output
    again = runner.invoke(args=["crm", "import-members", str(path)])
    assert "created: 0  updated: 0  unchanged: 3  errors: 6" in again.output
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3


def test_cli_map_option_and_bad_files(runner, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Courriel;Nom\r\nx@example.org;Dupont\r\n", encoding="utf-8")
    result = runner.invoke(
        args=["crm", "import-members", str(path), "--map", "email=Courriel", "--map", "last_name=Nom"]
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Contact.last_name).where(Contact.email == "x@example.org")) == "Dupont"
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x00\x01\x02binary")
    result = runner.invoke(args=["crm", "import-members", str(binary)])
    assert result.exit_code != 0 and "not a CSV file" in result.output
    result = runner.invoke(args=["crm", "import-members", str(path), "--map", "nonsense=Nom"])
    assert result.exit_code != 0


def test_thousands_of_rows_import_in_chunks_and_idempotently(runner, tmp_path):
    make_plan()
    db.session.commit()
    lines = ["email,first_name,last_name,postcode,plan,status,joined,paid_through,email_consent"]
    lines += [f"member{i}@example.org,First{i},Last{i},N1 {i % 10}AA,standard,active,01/02/2024,2027-02-01,yes"
              for i in range(3_000)]  # fmt: skip
    path = tmp_path / "big.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    from tests.staff.conftest import count_queries

    with count_queries() as statements:
        result = runner.invoke(args=["crm", "import-members", str(path)])
    # Chunked and batched: tens of statements for 3,000 rows, not one or more per row (was a
    # wall-clock bound of 60 s).
    assert len(statements) <= 60, len(statements)
    assert "created: 3,000" in result.output, result.output
    again = runner.invoke(args=["crm", "import-members", str(path)])
    assert "unchanged: 3,000" in again.output
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 3_000
