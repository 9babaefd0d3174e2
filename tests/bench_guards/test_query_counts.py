"""Lists, exports and the import issue the same statements for a few rows as for many: no N+1."""

from __future__ import annotations

from datetime import timedelta

from crm.billing.models import Payment
from crm.core.types import utcnow
from crm.extensions import db
from tests.bench_guards.conftest import add_members, add_membership_and_payments, statements


def count_for(client, path: str) -> int:  # type: ignore[no-untyped-def]
    client.get(path)  # warm: the first request loads plans, sessions and template caches
    with statements() as seen:
        response = client.get(path)
        response.get_data()  # a streamed body runs its queries while it is read
    assert response.status_code == 200, response.status_code
    return len(seen)


def test_payments_list_runs_the_same_queries_for_few_or_many_payments(staff_client, plan):  # type: ignore[no-untyped-def]
    add_members(plan, 3)
    few = count_for(staff_client, "/staff/payments")
    add_members(plan, 40, start=3, payments=2)
    assert count_for(staff_client, "/staff/payments") == few


def test_members_csv_export_runs_the_same_queries_for_few_or_many_members(staff_client, plan):  # type: ignore[no-untyped-def]
    add_members(plan, 3)
    few = count_for(staff_client, "/staff/members/export.csv")
    add_members(plan, 60, start=3)
    body = staff_client.get("/staff/members/export.csv").get_data(as_text=True)
    assert "guard62@example.net" in body
    assert count_for(staff_client, "/staff/members/export.csv") == few


def test_payments_csv_export_runs_the_same_queries_for_few_or_many_payments(staff_client, plan):  # type: ignore[no-untyped-def]
    add_members(plan, 3)
    few = count_for(staff_client, "/staff/payments/export.csv")
    add_members(plan, 40, start=3, payments=3)
    assert count_for(staff_client, "/staff/payments/export.csv") == few


def test_member_account_page_runs_the_same_queries_for_one_or_many_payments(client, member, plan):  # type: ignore[no-untyped-def]
    from tests.fixtures import sign_in_as

    sign_in_as(client, member)
    membership = add_membership_and_payments(member.contact_id, plan, 1, utcnow())
    db.session.commit()
    few = count_for(client, "/account")
    for k in range(20):
        db.session.add(Payment(contact_id=member.contact_id, membership_id=membership.id, kind="membership",
                               amount=3600, method="card", status="paid", paid_at=utcnow() - timedelta(days=30 * k)))  # fmt: skip
    db.session.commit()
    assert count_for(client, "/account") == few


def _csv(rows: int, start: int = 0) -> str:
    lines = ["email,first name,last name,postcode,plan,status,paid through,gift aid"]
    lines += [f"imp{i}@example.net,Ana,Torres{i},N1 9GU,standard-yearly,active,2030-01-31,{'yes' if i % 2 else 'no'}"
              for i in range(start, start + rows)]  # fmt: skip
    return "\n".join(lines) + "\n"


def test_import_issues_the_same_statements_for_20_or_300_rows_in_a_chunk(app, plan):  # type: ignore[no-untyped-def]
    from crm.staff import import_service as service

    def run(text: str) -> tuple[int, service.ImportReport]:
        mapping = service.guess_mapping(service.read_headers(text))
        with statements() as seen:
            report = service.import_members(
                text, mapping, source_name="guard.csv", actor_label="test", chunk_size=1000
            )
        db.session.commit()
        return len(seen), report

    run(_csv(1, start=10_000))  # once-per-process lookups (the plans, whether the search index exists)
    few, first = run(_csv(20))
    many, second = run(_csv(300, start=20))
    assert (first.created, second.created) == (20, 300)
    assert many == few
    again, third = run(_csv(300, start=20))  # the same file again: updates nothing, still set-based
    assert third.unchanged == 300 and again <= few


def test_a_signed_in_members_cached_news_page_runs_one_statement_the_session_check(client, member, plan):  # type: ignore[no-untyped-def]
    """The user, their session row and their membership's status are read in one statement: a page
    that shows nothing else of theirs (the cached /news list with the member's menu and teasers)
    runs no other."""
    from tests.fixtures import sign_in_as

    add_membership_and_payments(member.contact_id, plan, 1, utcnow())
    db.session.commit()
    sign_in_as(client, member)
    assert count_for(client, "/news") == 1
    page = client.get("/news").get_data(as_text=True)
    assert "Sign out" in page or "sign out" in page.lower()
