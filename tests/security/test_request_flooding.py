"""Issue 26 item 18 (control #41): nobody can block a person's reset and sign-in-link requests.

The attack: ten requests for a victim's address from one machine made every later request for
that address 429 (or send nothing) for an hour, the victim's own included. Now both the request
limit and the three-emails-an-hour cap count per requester and address (with a ceiling of
ACCOUNT_EMAILS_PER_HOUR per address from everyone): the stranger is limited, the owner is not.
"""

from __future__ import annotations

import pytest

from crm.accounts.services import ACCOUNT_EMAILS_PER_HOUR, EMAILS_PER_HOUR
from tests.security.helpers import outbox

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"WTF_CSRF_ENABLED": False}


@pytest.mark.parametrize(
    ("path", "kind"), [("/password/reset", "reset_password"), ("/login/link", "login_link")]
)
def test_a_stranger_flooding_someones_address_does_not_block_the_owners_own_request(app, member, path, kind):
    attacker = app.test_client()
    statuses = [
        attacker.post(path, data={"email": "member@example.org"}, environ_base=ATTACKER).status_code
        for _ in range(11)
    ]
    assert statuses[-1] == 429  # the stranger is limited...
    assert len(outbox(kind)) == EMAILS_PER_HOUR  # ...and got only their three emails sent
    owner = app.test_client()
    response = owner.post(path, data={"email": "member@example.org"}, environ_base=OWNER)
    assert response.status_code == 200
    assert len(outbox(kind)) == EMAILS_PER_HOUR + 1  # the owner's link went out


def test_everyone_together_cannot_mail_bomb_one_address(app, member):
    for n in range(ACCOUNT_EMAILS_PER_HOUR + 3):
        app.test_client().post(
            "/password/reset",
            data={"email": "member@example.org"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{n}"},
        )
    assert len(outbox("reset_password")) == ACCOUNT_EMAILS_PER_HOUR
