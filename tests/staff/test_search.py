"""Finding members: substring search, injection-proof, filters, sort, pagination, fixed queries."""

from __future__ import annotations

import re

import pytest

from crm.contacts.models import Contact
from crm.extensions import db
from crm.staff.search import search_contacts
from tests.fixtures import make_contact
from tests.staff.conftest import count_queries, declare_gift_aid, make_membership, make_plan


@pytest.fixture
def people(app):  # type: ignore[no-untyped-def]
    yearly = make_plan("standard-yearly")
    monthly = make_plan("monthly", 400, "month")
    ana = make_contact("ana.torres@example.org", first_name="Ana", last_name="Torres", postcode="SW1A 2AA")
    make_membership(ana, yearly, "active", joined_days_ago=400)
    declare_gift_aid(ana)
    ana.email_consent = True
    bob = make_contact("bob@unite.example", first_name="Robert", last_name="Okafor", postcode="M1 1AE")
    make_membership(bob, monthly, "grace", joined_days_ago=30)
    cat = make_contact(
        "cat.obrien@example.net", first_name="Catalina", last_name="O'Brien", postcode="EH1 1YZ"
    )
    make_membership(cat, yearly, "lapsed", joined_days_ago=900, paid_days=-100)
    make_contact("dan@example.com", first_name="Dan", last_name="Brown", postcode="BS1 4DJ")
    db.session.commit()
    return {"ana": ana, "bob": bob, "cat": cat, "yearly": yearly, "monthly": monthly}


def names(client, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get("/staff/members?" + query)
    assert response.status_code == 200
    return re.findall(
        r'<th scope="row"><a href="/staff/members/\d+">([^<]+)</a>', response.get_data(as_text=True)
    )


FRAGMENTS = [
    ("q=ana", ["Torres, Ana"]),
    ("q=TORR", ["Torres, Ana"]),
    ("q=orre", ["Torres, Ana"]),  # a fragment in the middle, not only a prefix
    ("q=kaf", ["Okafor, Robert"]),
    ("q=unite.example", ["Okafor, Robert"]),
    ("q=bob%40unite.example", ["Okafor, Robert"]),
    ("q=sw1a+2aa", ["Torres, Ana"]),
    ("q=SW1A2AA", ["Torres, Ana"]),
    ("q=A2A", ["Torres, Ana"]),
    ("q=O%27Brien", ["O&#39;Brien, Catalina"]),
    ("q=example", ["Brown, Dan", "O&#39;Brien, Catalina", "Okafor, Robert", "Staff, Sasha", "Torres, Ana"]),
]


def test_search_finds_any_fragment_of_name_email_postcode(staff_client, people):  # type: ignore[no-untyped-def]
    for query, expected in FRAGMENTS:
        assert names(staff_client, query) == expected, query


def test_search_by_membership_number(staff_client, people):  # type: ignore[no-untyped-def]
    number = people["bob"].member_number
    assert names(staff_client, f"q={number}") == ["Okafor, Robert"]
    assert names(staff_client, f"q={number.lower()}") == ["Okafor, Robert"]


ATTACKS = ["' OR 1=1 --", "%", "_", "\\", "%%", "a%", "_n", '"', "' OR ''='", "*", "NEAR(a b)", "1) OR (1=1"]


def test_sql_and_wildcard_characters_find_nothing_extra(staff_client, people):  # type: ignore[no-untyped-def]
    for attack in ATTACKS:
        response = staff_client.get("/staff/members", query_string={"q": attack})
        assert response.status_code == 200, attack
        assert re.findall(r'<th scope="row">', response.get_data(as_text=True)) == [], attack
        assert search_contacts(attack) == [], attack


def test_underscore_and_percent_match_literally(staff_client, people):  # type: ignore[no-untyped-def]
    make_contact("under_score@example.org", first_name="Una", last_name="Score")
    make_contact("full100%@example.org", first_name="Fay", last_name="Full")
    make_contact("underXscore@example.org", first_name="Xavier", last_name="Score")
    db.session.commit()
    assert names(staff_client, "q=_") == ["Score, Una"]
    assert names(staff_client, "q=r_s") == ["Score, Una"]
    assert names(staff_client, "q=%25") == ["Full, Fay"]
    assert names(staff_client, "q=100%25%40") == ["Full, Fay"]


def test_search_index_follows_edits_and_deletes(app, people):  # type: ignore[no-untyped-def]
    bob = people["bob"]
    bob.last_name = "Mensah"
    db.session.commit()
    assert [c.id for c in search_contacts("mensah")] == [bob.id]
    assert search_contacts("okafor") == []
    dan = db.session.scalar(db.select(Contact).where(Contact.first_name == "Dan"))
    db.session.delete(dan)
    db.session.commit()
    assert search_contacts("brown") == []


EVERYONE = ["Brown, Dan", "O&#39;Brien, Catalina", "Okafor, Robert", "Staff, Sasha", "Torres, Ana"]


FILTERS = [
    ("status=active", ["Torres, Ana"]),
    ("status=grace", ["Okafor, Robert"]),
    ("status=none", ["Brown, Dan", "Staff, Sasha"]),
    ("gift_aid=yes", ["Torres, Ana"]),
    ("gift_aid=no", ["Brown, Dan", "O&#39;Brien, Catalina", "Okafor, Robert", "Staff, Sasha"]),
    ("consent=yes", ["Torres, Ana"]),
    ("q=example&status=lapsed", ["O&#39;Brien, Catalina"]),
    ("status=nonsense", EVERYONE),
    ("joined_from=not-a-date", EVERYONE),
]


def test_filters_narrow_the_list(staff_client, people):  # type: ignore[no-untyped-def]
    for query, expected in FILTERS:
        assert names(staff_client, query) == expected, query


def test_filter_by_plan_and_joined_dates(staff_client, people):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from crm.core.types import utcnow

    assert names(staff_client, f"plan={people['monthly'].id}") == ["Okafor, Robert"]
    today = utcnow().date()
    since = (today - timedelta(days=500)).isoformat()
    until = (today - timedelta(days=60)).isoformat()
    assert names(staff_client, f"joined_from={since}") == ["Okafor, Robert", "Torres, Ana"]
    assert names(staff_client, f"joined_from={since}&joined_to={until}") == ["Torres, Ana"]


SORTS = [
    ("name", "Brown, Dan"),
    ("-joined", "Okafor, Robert"),
    ("joined", "O&#39;Brien, Catalina"),
    ("paid_through", "O&#39;Brien, Catalina"),
    ("number", "Torres, Ana"),
    ("id; DROP TABLE contact", "Brown, Dan"),
]


def test_sort_keys_come_from_an_allow_list(staff_client, people):  # type: ignore[no-untyped-def]
    for sort, first in SORTS:
        response = staff_client.get("/staff/members", query_string={"sort": sort})
        assert response.status_code == 200
        listed = re.findall(
            r'<th scope="row"><a href="/staff/members/\d+">([^<]+)</a>', response.get_data(as_text=True)
        )
        assert listed[0] == first, sort


def test_list_paginates_fifty_a_page(staff_client, app):  # type: ignore[no-untyped-def]
    for i in range(55):
        make_contact(f"p{i:02d}@example.org", first_name=f"P{i:02d}", last_name="Page")
    db.session.commit()
    first = names(staff_client, "q=page")
    second = names(staff_client, "q=page&page=2")
    assert len(first) == 50 and len(second) == 5
    assert not set(first) & set(second)
    assert "Page 1 of 2" in staff_client.get("/staff/members?q=page").get_data(as_text=True)


def test_export_link_keeps_the_filters(staff_client, people):  # type: ignore[no-untyped-def]
    html = staff_client.get("/staff/members?q=ana&status=active").get_data(as_text=True)
    link = re.search(r'href="(/staff/members/export.csv[^"]*)"', html).group(1)
    assert "q=ana" in link and "status=active" in link


def test_members_list_runs_the_same_queries_for_few_or_many_rows(staff_client, people):  # type: ignore[no-untyped-def]
    staff_client.get("/staff/members")  # warm up (caches)
    db.session.commit()  # both measurements start from an expired session
    with count_queries() as few:
        staff_client.get("/staff/members?q=example")
    plan = people["yearly"]
    for i in range(30):
        contact = make_contact(f"more{i}@example.org", first_name="More", last_name=f"M{i}")
        make_membership(contact, plan, "active")
        declare_gift_aid(contact)
    db.session.commit()
    with count_queries() as many:
        staff_client.get("/staff/members?q=example")
    assert len(many) == len(few), "\n".join(s[:120] for s in few + ["----"] + many)
    assert len(few) <= 8


def test_a_broad_search_counts_up_to_the_cap_and_says_so(staff_client, people, monkeypatch):  # type: ignore[no-untyped-def]
    from crm.staff import search

    monkeypatch.setattr(search, "COUNT_CAP", 3)
    html = staff_client.get("/staff/members?q=example").get_data(as_text=True)
    assert "3+ contacts found" in html
    assert names(staff_client, "q=example") == EVERYONE  # the rows are still every match, sorted
    html = staff_client.get("/staff/members?q=example&status=lapsed").get_data(as_text=True)
    assert "1 contact found." in html


@pytest.mark.parametrize(
    ("common", "sort_cap", "postgres_sort_cap"),
    [(True, 5000, 100_000), (False, 5000, 100_000), (False, 10, 10), (False, 10, 1000)],
    ids=[
        "common-fragment",
        "rare-fragment",
        "rare-with-more-matches-than-sorted",
        "rare-sorted-by-postgres-cap",
    ],
)
def test_every_page_of_a_search_lists_exactly_the_matches_in_name_order(  # type: ignore[no-untyped-def]
    staff_client, app, monkeypatch, common, sort_cap, postgres_sort_cap
):
    """Every way of answering a search (a common fragment read in name order a window at a time,
    a rare one sorted from the index's matches, a rare one with more matches than that sorts,
    which PostgreSQL's larger cap still sorts) gives the same pages as sorting every match."""
    from crm.staff import member_search as search
    from crm.staff import members

    monkeypatch.setattr(members, "PER_PAGE", 4)
    monkeypatch.setattr(search, "DENSITY_PROBE_ROWS", 6)  # windows of 6, 48, ... rows
    monkeypatch.setattr(search, "COMMON_SHARE", 0.0 if common else 2.0)
    monkeypatch.setattr(search, "SORT_CAP", sort_cap)  # 23 matches below
    monkeypatch.setattr(search, "POSTGRES_SORT_CAP", postgres_sort_cap)
    monkeypatch.setattr(search, "_windows", lambda first: [5, 20, None])  # pages spill past windows
    for i in range(23):
        make_contact(f"river{i}@example.org", first_name=f"F{i % 5}", last_name=f"Rivera{(i * 7) % 23:02d}")
        make_contact(f"other{i}@example.org", first_name="Other", last_name=f"Person{i:02d}")
    db.session.commit()
    everyone = db.session.scalars(
        db.select(Contact)
        .where(Contact.email.like("river%"))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    ).all()
    expected = [f"{c.last_name}, {c.first_name}" for c in everyone]
    listed = []
    for page in range(1, 8):
        listed += names(staff_client, f"q=iver&page={page}")
    assert listed == expected
    assert "23 contacts found." in staff_client.get("/staff/members?q=iver").get_data(as_text=True)


def test_a_search_cost_does_not_grow_with_the_rows_it_skips(staff_client, app, monkeypatch):  # type: ignore[no-untyped-def]
    """A rare fragment sorts only its matches: more non-matching contacts add no query."""
    make_contact("needle@example.org", first_name="Nadia", last_name="Needleman")
    for i in range(30):  # a rare fragment: one contact in thirty
        make_contact(f"straw{i}@example.org", first_name="Straw", last_name=f"Bale{i}")
    db.session.commit()
    staff_client.get("/staff/members?q=needle")
    with count_queries() as few:
        assert names(staff_client, "q=needle") == ["Needleman, Nadia"]
    for i in range(200):
        make_contact(f"hay{i}@example.org", first_name="Hay", last_name=f"Stack{i}")
    db.session.commit()
    with count_queries() as many:
        assert names(staff_client, "q=needle") == ["Needleman, Nadia"]
    assert len(many) == len(few)


def test_a_fragment_with_more_matches_than_sqlite_sorts_is_sorted_from_the_trigram_index_on_postgresql(  # type: ignore[no-untyped-def]
    staff_client, app, monkeypatch
):
    """Past SORT_CAP matches SQLite reads contacts in name order a window at a time (more queries);
    PostgreSQL's trigram index still hands over every match to sort (POSTGRES_SORT_CAP): the same
    queries as for a fragment with few matches, and the same page."""
    from crm.staff import member_search as search

    monkeypatch.setattr(search, "SORT_CAP", 10)
    monkeypatch.setattr(search, "POSTGRES_SORT_CAP", 1000)
    monkeypatch.setattr(search, "COMMON_SHARE", 2.0)  # neither fragment is common by the probe
    make_contact("nadia@example.org", first_name="Nadia", last_name="Needleman")
    for i in range(30):
        make_contact(f"straw{i}@example.org", first_name="Straw", last_name=f"Bale{i:02d}")
    db.session.commit()
    staff_client.get("/staff/members?q=needle")
    with count_queries() as few:
        assert names(staff_client, "q=needle") == ["Needleman, Nadia"]
    with count_queries() as many:
        listed = names(staff_client, "q=bale")
    assert listed == [f"Bale{i:02d}, Straw" for i in range(30)]
    if db.engine.dialect.name == "postgresql":
        assert len(many) == len(few), "\n".join(s[:120] for s in few + ["----"] + many)
    else:
        assert len(many) > len(few)  # the windowed read in name order


def test_a_database_without_the_stored_search_text_still_finds_the_same_people(app, monkeypatch):  # type: ignore[no-untyped-def]
    """A PostgreSQL database made by `db.create_all()` alone has no `contact_search_text` column:
    search computes the same folded text per row (SQLite: the LIKE path without its FTS table)."""
    make_contact("maria@example.org", first_name="María", last_name="López")
    make_contact("other@example.org", first_name="Ana", last_name="Smith")
    db.session.commit()
    with_index = [c.email for c in search_contacts("lopez")]
    monkeypatch.setattr(db.engine, "_crm_search_column", False, raising=False)
    monkeypatch.setattr(db.engine, "_crm_search_ready", False, raising=False)
    assert [c.email for c in search_contacts("lopez")] == with_index == ["maria@example.org"]
