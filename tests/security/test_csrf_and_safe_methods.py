"""Controls 1 and 2: every state-changing form needs this session's CSRF token; GET changes nothing."""

from __future__ import annotations

import pytest

from tests.fixtures import csrf_token
from tests.security.conftest import build_url, changed_tables, get_rules, snapshot, state_changing_rules


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"RATELIMIT_ENABLED": False}  # CSRF stays on (the default test setting)


def _who_for(rule_text: str) -> str:
    return "admin" if rule_text.startswith("/staff") else "a"


def test_every_post_route_without_a_csrf_token_is_refused_and_changes_nothing(world):
    rules = state_changing_rules(world.app)
    assert len(rules) > 30  # the walk really covers the app
    clients = {who: world.client(who) for who in ("a", "admin")}
    before = snapshot(exclude=set())
    refused = []
    for rule in rules:
        url = build_url(world, rule, owner="a")
        response = clients[_who_for(rule.rule)].post(url, data={"email": "x@example.org", "body": "hi"})
        refused.append((rule.rule, response.status_code))
    assert [r for r in refused if r[1] != 400] == []
    assert changed_tables(before, snapshot(exclude=set())) == []


def test_a_csrf_token_from_another_session_is_refused(world):
    rules = state_changing_rules(world.app)
    mine, theirs = world.client("a"), world.client("b")
    admin = world.client("admin")
    stolen = csrf_token(theirs, "/account/details")
    before = snapshot(exclude=set())
    for rule in rules:
        client = admin if rule.rule.startswith("/staff") else mine
        response = client.post(
            build_url(world, rule, owner="a"), data={"csrf_token": stolen, "email": "x@y.org"}
        )
        assert response.status_code == 400, rule.rule
    assert changed_tables(before, snapshot(exclude=set())) == []


def test_the_only_csrf_exempt_posts_are_the_signed_webhook_and_one_click_unsubscribe(world):
    from tests.security.conftest import CSRF_EXEMPT_RULES

    exempt = [
        r for r in world.app.url_map.iter_rules() if "POST" in r.methods and r.rule in CSRF_EXEMPT_RULES
    ]
    client = world.client("a")
    before = snapshot(exclude=set())
    for rule in exempt:  # without their own proof (signature, token) they change nothing
        response = client.post(build_url(world, rule), data={"x": "1"})
        assert response.status_code in (400, 404), rule.rule
    assert changed_tables(before, snapshot(exclude=set())) == []


def test_the_csrf_refusal_page_explains_what_to_do(world):
    response = world.client("a").post("/account/details", data={"first_name": "Mallory"})
    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["a", "admin"])
def test_no_get_route_changes_any_table(world, who):
    """Walk every GET rule with real ids; only the audit trail (who looked at what) may grow."""
    client = world.client(who)
    before = snapshot()
    statuses = {}
    for rule in get_rules(world.app):
        response = client.get(build_url(world, rule, owner="b" if who == "admin" else "a"))
        statuses[rule.rule] = response.status_code
        assert response.status_code < 500, (rule.rule, response.status_code)
    assert changed_tables(before, snapshot()) == []
    assert 200 in statuses.values()


def test_anonymous_get_walk_changes_nothing(world):
    client = world.client(None)
    before = snapshot()
    for rule in get_rules(world.app):
        assert client.get(build_url(world, rule)).status_code < 500, rule.rule
    assert changed_tables(before, snapshot()) == []
