"""`python -m devtools.seed` (seed-bench) contacts who consent are reachable by campaigns, as everyone else is."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.audiences import filters
from crm.contacts.models import Consent, Contact
from devtools.seed import seed_bench_command


def test_seeded_contacts_with_email_consent_are_in_a_consent_audience(app, runner):
    result = runner.invoke(seed_bench_command, ["--contacts", "40", "--posts", "0"])
    assert result.exit_code == 0, result.output
    from crm.extensions import db

    consenting = db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(Contact.source == "seed", Contact.email_consent.is_(True))
    )
    assert consenting and consenting < 40
    audience = filters.clean({"sources": ["seed"], "consent": ["email:news"]})
    assert filters.count(audience) == consenting
    # Each has its history record too, so the contact page says where the consent came from.
    assert (
        db.session.scalar(select(func.count()).select_from(Consent).where(Consent.source == "seed"))
        == consenting
    )
