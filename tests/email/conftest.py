from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm.email.sender import MEMORY_OUTBOX
from tests.email.smtp_server import SMTPServer


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _empty_memory_outbox() -> Iterator[None]:
    MEMORY_OUTBOX.clear()
    yield
    MEMORY_OUTBOX.clear()


@pytest.fixture
def email_routes(app):  # type: ignore[no-untyped-def]
    """The unsubscribe blueprint, registered here until the app factory registers it."""
    if "email" not in app.blueprints:
        from crm.email.routes import bp

        app.register_blueprint(bp)
    return app
