"""An unmigrated database says what to do (issue 26 item 10): /healthz, every page and the
development server's start-up name `flask db upgrade` instead of "briefly unavailable"."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from crm import create_app
from crm.core.schema_check import SCHEMA_OUT_OF_DATE, warn_if_schema_out_of_date
from crm.extensions import db


def _app_on(path: Path):  # type: ignore[no-untyped-def]
    return create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", RATELIMIT_STORAGE_URI="memory://"
    )


def test_an_empty_database_is_named_out_of_date_by_healthz_the_pages_and_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app_on(tmp_path / "unmigrated.db")
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["message"] == SCHEMA_OUT_OF_DATE
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert "flask db upgrade" in html and "try again in a minute" not in html
    with app.app_context(), caplog.at_level(logging.ERROR, logger="crm.schema"):
        assert warn_if_schema_out_of_date() is False
        db.engine.dispose()
    assert SCHEMA_OUT_OF_DATE in caplog.text


def test_an_older_recorded_revision_is_out_of_date_and_the_head_is_current(tmp_path: Path) -> None:
    app = _app_on(tmp_path / "old.db")
    with app.app_context():
        db.create_all()
        with db.engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version VALUES ('0000old00000')"))
        assert app.test_client().get("/healthz").status_code == 503
        from crm.core.schema_check import _migration_heads, _migrations_directory

        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            for head in _migration_heads(_migrations_directory()):
                connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
        assert app.test_client().get("/healthz").get_json() == {"status": "ok", "database": "ok"}
        db.engine.dispose()
