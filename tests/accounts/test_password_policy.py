"""The password policy: length, no composition rules, common passwords refused, text kept as typed."""

from __future__ import annotations

import pytest

from crm.accounts.passwords import hash_password, password_problem, verify_password


@pytest.mark.parametrize("password", ["a" * 7, "abcdefghi", "   x    "])
def test_short_passwords_are_refused_with_the_reason(password):
    assert "at least 10 characters" in password_problem(password)


@pytest.mark.parametrize(
    "password", ["password123", "Password123", "qwerty123456", "iloveyou2024", "1234567890"]
)
def test_common_passwords_are_refused(password):
    assert "too common" in password_problem(password)


@pytest.mark.parametrize("length", [10, 64, 128])
def test_long_passphrases_are_welcome_without_composition_rules(length):
    assert password_problem(("correct horse " * 20)[:length]) is None


def test_spaces_and_case_are_kept_exactly():
    stored = hash_password("  Mixed Case Pass  ")
    assert verify_password(stored, "  Mixed Case Pass  ")
    assert not verify_password(stored, "Mixed Case Pass")
    assert not verify_password(stored, "  mixed case pass  ")


def test_the_shipped_list_is_a_few_thousand_long():
    from crm.accounts.passwords import _common_passwords

    assert len(_common_passwords()) > 2000
