"""One email check for the whole app: internationalised addresses (RFC 6531) are accepted when
the mail server supports SMTPUTF8, and refused with a reason when it does not."""

from __future__ import annotations

import pytest

from crm.contacts.emails import EmailAddressError, normalise_email
from crm.staff import import_service
from tests.join.test_join_form import form
from tests.memberships.factories import make_plans


def test_an_internationalised_address_is_accepted_when_the_server_supports_it(app) -> None:  # type: ignore[no-untyped-def]
    assert normalise_email("  José@Example.org ") == "josé@example.org"


@pytest.mark.parametrize("app_config", [{"MAIL_SMTPUTF8": False}])
def test_without_smtputf8_it_is_refused_with_the_reason(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmailAddressError, match="cannot deliver to an address with accents"):
        normalise_email("josé@example.org")
    assert normalise_email("jose@example.org") == "jose@example.org"
    with pytest.raises(EmailAddressError, match="like name@example.org"):
        normalise_email("not an address")


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": False}])
def test_the_join_form_takes_an_internationalised_address(client, stripe_sandbox) -> None:  # type: ignore[no-untyped-def]
    from crm.extensions import db

    plans = make_plans()
    db.session.commit()
    response = client.post("/join", data=form(plans, email="josé@example.org", first_name="María José",
                                              last_name="Quispe Mamani"))  # fmt: skip
    assert response.status_code == 303, response.get_data(as_text=True)


def test_the_import_takes_an_internationalised_address_and_says_why_it_refuses_others(app) -> None:  # type: ignore[no-untyped-def]
    text = "email,first_name\r\njosé@example.org,José\r\nnot-an-address,Bad\r\n"
    result = import_service.import_members(
        text, {"email": "email", "first_name": "first_name"}, source_name="x.csv"
    )
    assert result.created == 1
    assert len(result.errors) == 1 and "is not a valid email address" in str(result.errors[0])
