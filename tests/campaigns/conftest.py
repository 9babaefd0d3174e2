from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm.email.sender import MEMORY_OUTBOX


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"MAIL_BACKEND": "memory", "CAMPAIGN_RATE_PER_MINUTE": 100_000, "CAMPAIGN_BATCH": 2}


@pytest.fixture(autouse=True)
def _empty_memory_outbox() -> Iterator[None]:
    MEMORY_OUTBOX.clear()
    yield
    MEMORY_OUTBOX.clear()
