"""`flask crm backup` then `flask crm restore` gives back every table, row for row."""

from __future__ import annotations

from sqlalchemy import select

from crm.demo import load_demo
from crm.extensions import db
from crm.models import Contact


def _dump() -> dict[str, list[tuple]]:
    return {
        t.name: [tuple(r) for r in db.session.execute(select(t).order_by(*t.primary_key.columns))]
        for t in db.metadata.sorted_tables
    }


def test_backup_then_restore_gives_back_every_table(app, runner, tmp_path):
    load_demo()
    before = _dump()
    assert before["contact"], "demo data loaded"
    path = tmp_path / "backup.dump"
    result = runner.invoke(args=["crm", "backup", str(path)])
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 0

    # Damage the data after the backup: the restore must undo it.
    db.session.execute(Contact.__table__.update().values(first_name="changed"))
    db.session.add(Contact(email="after-backup@example.org"))
    db.session.commit()

    result = runner.invoke(args=["crm", "restore", "--yes", str(path)])
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert _dump() == before


def test_restore_of_a_missing_file_is_refused_cleanly(runner, tmp_path):
    result = runner.invoke(args=["crm", "restore", "--yes", str(tmp_path / "nope.dump")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
