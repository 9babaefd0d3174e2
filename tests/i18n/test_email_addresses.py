"""One email check for the whole app: internationalised addresses (RFC 6531) are accepted when
the mail server supports SMTPUTF8, and refused with a reason when it does not."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.contacts.services import EmailAddressError, normalise_email
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


#: Addresses the old import-only pattern let through while the join form refused them, and
#: ordinary ones: the import, the join form and sign-in now share one check.
ADDRESSES = ["Pat.Payer+news@Example.CO.UK", "o'neil@example.ie", "a..b@example.org", ".a@example.org",
             "a.@example.org", "x@crm.test", "x@localhost", "x@a.local", "x@example.123", "x@-a.org",
             "x@xn--bcher-kva.example", "a@b.c"]  # fmt: skip


def test_the_import_accepts_and_refuses_the_same_addresses_as_the_join_form(app) -> None:  # type: ignore[no-untyped-def]
    def accepted(address: str) -> str | None:
        try:
            return normalise_email(address)
        except EmailAddressError:
            return None

    text = "email,first_name\r\n" + "".join(f"{a},Someone\r\n" for a in ADDRESSES)
    result = import_service.import_members(
        text, {"email": "email", "first_name": "first_name"}, source_name="x.csv"
    )
    from sqlalchemy import select

    from crm.contacts.models import Contact
    from crm.extensions import db

    imported = set(db.session.scalars(select(Contact.email)))
    assert imported == {accepted(a) for a in ADDRESSES} - {None}
    assert imported >= {"pat.payer+news@example.co.uk", "o'neil@example.ie"}
    assert result.created == len(imported) and len(result.errors) == len(ADDRESSES) - len(imported)


_LOCAL = st.text("abcXYZ019.-_+'!#~%&*/=?^`{|}$@", min_size=1, max_size=66)
_LABEL = st.text("abZ09-x", min_size=1, max_size=64) | st.sampled_from(["xn--ab", "XN--bcher-kva", "ab--c"])
_TLD = st.sampled_from(
    ["org", "UK", "test", "local", "onion", "arpa", "invalid", "localhost", "c", "x1", "a-b"]
)


@settings(max_examples=300, deadline=None)
@given(local=_LOCAL, labels=st.lists(_LABEL, max_size=3), tld=_TLD)
def test_the_one_check_takes_exactly_the_addresses_email_validator_takes(local, labels, tld) -> None:  # type: ignore[no-untyped-def]
    """Its quick path for plain addresses never takes one the full check would refuse."""
    address = f"{local}@{'.'.join([*labels, tld])}"
    try:
        expected = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        got = normalise_email(address)
    except EmailAddressError:
        got = None
    assert got == expected
