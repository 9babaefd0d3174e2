"""A frozen or locked database fails requests fast with the 503 page (issue 26 item 20, control #40).

DATABASE_STATEMENT_TIMEOUT cancels a PostgreSQL statement that waits too long (here: on a lock
another connection holds, as a frozen backend would leave it); DATABASE_POOL_TIMEOUT bounds the
wait for a pooled connection when every one is stuck.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from crm.extensions import db
from crm.memberships.models import Plan
from tests.memberships.factories import make_plans


@pytest.fixture
def app_config() -> dict[str, object]:
    return {
        "DATABASE_STATEMENT_TIMEOUT": 1,
        "DATABASE_POOL_TIMEOUT": 1,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0},
    }


def test_a_table_locked_by_another_connection_gives_the_503_page_within_seconds(app, client, caplog):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("statement timeouts are PostgreSQL's; SQLite waits its busy timeout for writes only")
    make_plans()
    db.session.commit()
    db.session.remove()
    other = create_engine(db.engine.url)
    holder = other.connect()
    try:
        holder.execute(
            text(f'LOCK TABLE "{Plan.__table__.name}" IN ACCESS EXCLUSIVE MODE')
        )  # held until rollback
        response = client.get("/join")
        assert response.status_code == 503
        assert "briefly unavailable" in response.get_data(as_text=True)
        # The statement timeout (1 s here) cancelled the wait, not a pool or client timeout: no
        # wall-clock bound, which a loaded machine breaks (5.07 s seen in a loaded run).
        assert "SQLSTATE 57014" in caplog.text, caplog.text
    finally:
        holder.rollback()
        holder.close()
        other.dispose()
    assert client.get("/join").status_code == 200  # the same app recovers at once


def test_every_pooled_connection_stuck_gives_the_503_page_within_seconds(app, client, caplog):
    make_plans()
    db.session.commit()
    db.session.remove()
    stuck = db.engine.connect()  # the pool's only connection, held as a frozen request would
    try:
        response = client.get("/join")
        assert response.status_code == 503
        assert "briefly unavailable" in response.get_data(as_text=True)
        # The pool's timeout (1 s here) ended the wait for a connection: no wall-clock bound.
        assert "database error on GET /join: TimeoutError" in caplog.text, caplog.text
    finally:
        stuck.close()
    assert client.get("/join").status_code == 200
