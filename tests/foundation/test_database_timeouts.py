"""A frozen or locked database fails requests fast with the 503 page (issue 26 item 20, control #40).

DATABASE_STATEMENT_TIMEOUT cancels a PostgreSQL statement that waits too long (here: on a lock
another connection holds, as a frozen backend would leave it); DATABASE_POOL_TIMEOUT bounds the
wait for a pooled connection when every one is stuck.
"""

from __future__ import annotations

import time

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


def _timed_get(client, path: str):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def test_a_table_locked_by_another_connection_gives_the_503_page_within_seconds(app, client):
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
        response, took = _timed_get(client, "/join")
        assert response.status_code == 503
        assert "briefly unavailable" in response.get_data(as_text=True)
        assert took < 5
    finally:
        holder.rollback()
        holder.close()
        other.dispose()
    assert client.get("/join").status_code == 200  # the same app recovers at once


def test_every_pooled_connection_stuck_gives_the_503_page_within_seconds(app, client):
    make_plans()
    db.session.commit()
    db.session.remove()
    stuck = db.engine.connect()  # the pool's only connection, held as a frozen request would
    try:
        response, took = _timed_get(client, "/join")
        assert response.status_code == 503
        assert "briefly unavailable" in response.get_data(as_text=True)
        assert took < 5
    finally:
        stuck.close()
    assert client.get("/join").status_code == 200
