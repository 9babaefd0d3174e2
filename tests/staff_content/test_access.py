"""Each role against each staff content page: allowed (200) or refused (403 / sign in)."""

from __future__ import annotations

import pytest

from tests.fixtures import make_user, sign_in_as

PAGES = {
    "/staff/news": {"editor", "staff", "admin"},
    "/staff/news/new": {"editor", "staff", "admin"},
    "/staff/pages": {"staff", "admin"},
    "/staff/pages/new": {"staff", "admin"},
    "/staff/plans": {"admin"},
    "/staff/plans/new": {"admin"},
    "/staff/gift-aid": {"staff", "admin"},
    "/staff/import": {"staff", "admin"},
}


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["member", "editor", "staff", "admin"])
@pytest.mark.parametrize("path", PAGES)
def test_each_role_gets_only_its_pages(client, app, role, path):
    sign_in_as(client, make_user(f"{role}@example.org", role))
    response = client.get(path)
    expected = 200 if role in PAGES[path] else 403
    assert response.status_code == expected, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(
    "path",
    ["/staff/news/new", "/staff/pages/new", "/staff/plans/new", "/staff/gift-aid/claim", "/staff/import"],
)
def test_member_cannot_post_to_staff_pages(client, app, path):
    sign_in_as(client, make_user("m@example.org", "member"))
    assert client.post(path, data={"title": "x"}).status_code == 403
