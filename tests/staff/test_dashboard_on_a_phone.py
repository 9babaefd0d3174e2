"""The dashboard's work list on a phone: the cards with work come first, and the empty ones share
one short line after them instead of a screen of "Nothing to do." cards."""

from __future__ import annotations

import re

import pytest

from tests.staff.test_dashboard_payments_audit import seed


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "DASHBOARD_CACHE_SECONDS": 0}


def _work(html: str) -> str:
    return html.split('<h2 id="work-title">', 1)[1].split('<h2 id="figures-title">', 1)[0]


def test_cards_with_work_come_first_and_the_empty_ones_share_one_line_after_them(staff_client, app):
    seed(app)
    work = _work(staff_client.get("/staff").get_data(as_text=True))
    cards = re.findall(r'<h3 id="work-(\w+)">', work)
    assert cards == ["renewals", "failing", "disputes", "lapsed", "erasure", "gift_aid"]  # the usual order
    clear = work.split('id="work-clear"', 1)[1].split("</p>", 1)[0]
    assert work.index('id="work-clear"') > work.rindex('class="panel work-item"')  # after the work
    assert clear.startswith(">Nothing waiting: ") and clear.endswith("Event bookings to refund</span>.")
    empty = ["card_expiring", "returned_first", "event_refunds"]
    assert re.findall(r'<span id="work-(\w+)">', clear) == empty
    assert "Nothing to do." not in work


def test_a_dashboard_with_no_work_says_so_in_two_short_lines(staff_client, app):
    work = _work(staff_client.get("/staff").get_data(as_text=True))
    assert "work-item" not in work and "<p>Nothing to do today.</p>" in work
    assert work.count('<span id="work-') == 9 and "Renewals due in the next 30 days</span>, " in work
