"""Importing members from a messy CSV: validation with line numbers, matching, idempotency, encodings."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select, text

from crm.audit.models import AuditEvent
from crm.contacts import consent
from crm.contacts.models import Consent, Contact, GiftAidDeclaration
from crm.extensions import db
from crm.memberships.models import Membership, MembershipEvent
from crm.staff import import_service
from tests.fixtures import make_contact
from tests.staff_content.conftest import make_membership, make_plan

MESSY = (
    "E-mail,First Name,Surname,Postcode,Plan,Status,Joined,Paid until,Email updates,Gift Aid\r\n"
    " Ana@Example.org ,Ana,Torres,n1 9gu,standard,active,01/02/2024,2027-02-01,yes,yes\r\n"
    "not-an-email,Bad,Email,,,,,,,\r\n"
    "ana@example.org,Ana,Again,,,,,,,\r\n"
    "EXISTING@example.org,José,Updated,E1 6AN,,,,,no,\r\n"
    "wrongdate@example.org,Wrong,Date,,standard,active,31/02/2024,2027-01-01,,\r\n"
    "gold@example.org,Gold,Plan,,gold,active,,2027-01-01,,\r\n"
    '"formula@example.org","=HYPERLINK(""http://x"",""y"")",Cole,,Standard yearly,lapsed,3 Jan 2020,,,\r\n'
    "short@example.org,Short\r\n"
    "zombie@example.org,Zed,Zombie,,standard,zombie,,,,\r\n"
    ",,,,,,,,,\r\n"
)
MAPPING = {"email": "E-mail", "first_name": "First Name", "last_name": "Surname", "postcode": "Postcode",
           "plan": "Plan", "status": "Status", "joined": "Joined", "paid_through": "Paid until",
           "email_consent": "Email updates", "gift_aid": "Gift Aid"}  # fmt: skip


@pytest.fixture
def existing(app):  # type: ignore[no-untyped-def]
    make_plan()
    contact = make_contact("existing@example.org", first_name="Old", last_name="Name", email_consent=True)
    db.session.commit()
    return contact


def _counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Contact, Membership, MembershipEvent, Consent, GiftAidDeclaration)}  # fmt: skip


def _upload(client, data: bytes, name: str = "members.csv"):  # type: ignore[no-untyped-def]
    return client.post(
        "/staff/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def test_guess_mapping_recognises_common_headers():
    headers = import_service.read_headers(MESSY)
    assert import_service.guess_mapping(headers) == MAPPING


def test_messy_file_through_the_page_reports_each_bad_row_with_its_line(staff_client, existing):
    response = _upload(staff_client, MESSY.encode("cp1252"))
    assert response.status_code == 302
    map_url = response.headers["Location"]
    preview = staff_client.post(
        map_url, data={f"map_{k}": v for k, v in MAPPING.items()} | {"action": "preview"}
    )
    html = preview.get_data(as_text=True)
    assert "José" in html and "is not a valid email address" in html and "Import 9 rows" in html
    assert _counts()["Contact"] == 2  # staff user and the existing contact: the preview saved nothing

    result = staff_client.post(
        map_url, data={f"map_{k}": v for k, v in MAPPING.items()} | {"action": "import"}
    )
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    stats = {
        label: int(n)
        for n, label in re.findall(r"<strong>(\d+)</strong> (created|updated|unchanged|not imported)", html)
    }
    assert stats == {"created": 2, "updated": 1, "unchanged": 0, "not imported": 6}
    errors = dict(re.findall(r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]+)</td></tr>", html))
    assert set(errors) == {"3", "4", "6", "7", "9", "10"}
    assert "not a valid email" in errors["3"]
    assert "already on line 2" in errors["4"]
    assert "is not a date" in errors["6"]
    assert "unknown plan" in errors["7"]
    assert "missing columns" in errors["9"]
    assert "unknown membership status" in errors["10"]

    ana = db.session.scalar(select(Contact).where(Contact.email == "ana@example.org"))
    assert (ana.first_name, ana.postcode, ana.email_consent, ana.source) == ("Ana", "N1 9GU", True, "import")
    assert ana.member_number == f"M{ana.id:06d}"
    membership = db.session.scalar(select(Membership).where(Membership.contact_id == ana.id))
    assert membership.status == "active" and membership.paid_through.date().isoformat() == "2027-02-01"
    assert membership.joined_at.date().isoformat() == "2024-02-01"
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(GiftAidDeclaration)
            .where(GiftAidDeclaration.contact_id == ana.id)
        )
        == 1
    )
    formula = db.session.scalar(select(Contact).where(Contact.email == "formula@example.org"))
    assert formula.first_name == '=HYPERLINK("http://x","y")'  # kept as text; the export neutralises it
    db.session.refresh(existing)
    assert (existing.first_name, existing.last_name, existing.email_consent) == ("José", "Updated", False)
    actions = list(db.session.scalars(select(AuditEvent.action)))
    assert "import.members" in actions


def test_importing_the_same_file_twice_changes_nothing(app, existing):
    first = import_service.import_members(MESSY, MAPPING, source_name="a.csv")
    db.session.commit()
    counts = _counts()
    snapshot = {
        c.email: (c.first_name, c.last_name, c.postcode, c.version)
        for c in db.session.scalars(select(Contact))
    }
    second = import_service.import_members(MESSY, MAPPING, source_name="a.csv")
    db.session.commit()
    assert (first.created, first.updated, len(first.errors)) == (2, 1, 6)
    assert (second.created, second.updated, second.unchanged, len(second.errors)) == (0, 0, 3, 6)
    assert _counts() == counts
    db.session.expire_all()
    assert {
        c.email: (c.first_name, c.last_name, c.postcode, c.version)
        for c in db.session.scalars(select(Contact))
    } == snapshot


def test_imported_consent_is_recorded_as_the_import_with_the_files_name_and_the_contact_agrees(app, existing):
    """The consent module records what the file says: a history row with source "import" and the
    file's name as its wording, the current state, and the contact's own copy (same moment and
    source), for a new contact who says yes and one on file who says no. Silence records nothing."""
    text = (
        "email,first name,email updates,appeals\n"
        "new@example.org,Nia,yes,yes\n"
        "existing@example.org,Old,no,\n"
        "quiet@example.org,Quinn,,\n"
    )
    import_service.import_members(text, import_service.guess_mapping(import_service.read_headers(text)),
                                  source_name="spring.csv")  # fmt: skip
    db.session.commit()
    db.session.expire_all()
    people = {c.email: c for c in db.session.scalars(select(Contact))}
    for email, purpose, granted in [("new@example.org", "news", True), ("new@example.org", "appeals", True),
                                    ("existing@example.org", "news", False)]:  # fmt: skip
        contact = people[email]
        latest = next(r for r in consent.history(contact.id) if r.purpose == purpose)
        assert (latest.channel, latest.granted, latest.source) == ("email", granted, "import")
        assert latest.wording == "Imported from spring.csv" and latest.confirmed_at == latest.created_at
        assert consent.current_state(contact.id)[("email", purpose)] is granted
        if purpose == "news":
            assert (contact.email_consent, contact.email_consent_source, contact.email_consent_at) == (
                granted, "import", latest.created_at)  # fmt: skip
    quiet = people["quiet@example.org"]
    assert consent.history(quiet.id) == []
    assert (quiet.email_consent, quiet.email_consent_source, quiet.email_consent_at) == (False, "", None)


def test_matching_ignores_case_and_spaces_and_never_duplicates(app, existing):
    text = "email,last_name\r\n  Existing@EXAMPLE.org  ,Renamed\r\n"
    report = import_service.import_members(text, {"email": "email", "last_name": "last_name"})
    db.session.commit()
    assert (report.created, report.updated) == (0, 1)
    assert (
        db.session.scalar(select(func.count()).select_from(Contact).where(Contact.email.like("existing%")))
        == 1
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_encodings_are_read(encoding):
    text = import_service.decode_upload("email,first_name\r\nj@example.org,José Müller\r\n".encode(encoding))
    assert import_service.read_headers(text) == ["email", "first_name"]
    assert list(import_service.iter_rows(text)) == [(2, ["j@example.org", "José Müller"])]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "not a CSV file"), (b"PK\x03\x04rest-of-zip", "Excel workbook"),
     (b"", "empty"), (b"a@example.org\r\n", "column names")],
)  # fmt: skip
def test_non_csv_upload_gives_a_clear_error_and_no_rows(staff_client, data, message):
    before = _counts()
    response = _upload(staff_client, data, "photo.png")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _counts() == before


def test_mapping_without_email_is_refused(staff_client, existing):
    map_url = _upload(staff_client, MESSY.encode()).headers["Location"]
    response = staff_client.post(
        map_url,
        data={
            "map_email": "",
            "map_first_name": "First Name",
            "map_last_name": "First Name",
            "action": "import",
        },
    )
    html = response.get_data(as_text=True)
    assert "Choose the column that holds the email address" in html
    assert "is already used for" in html
    assert _counts()["Contact"] == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-03-01", "2026-03-01"), ("01/03/2026", "2026-03-01"), ("1/3/26", "2026-03-01"), ("01.03.2026", "2026-03-01"),
     ("1 March 2026", "2026-03-01"), ("1 Mar 2026", "2026-03-01"), ("31/02/2026", None), ("soon", None)],
)  # fmt: skip
def test_dates_in_common_formats(text, expected):
    parsed = import_service.parse_date(text)
    assert (parsed.date().isoformat() if parsed else None) == expected


def test_export_quote_is_undone_on_import(app):
    make_plan()
    import_service.import_members(
        "email,first_name\r\nq@example.org,'=SUM(A1)\r\n", {"email": "email", "first_name": "first_name"}
    )
    db.session.commit()
    assert db.session.scalar(select(Contact.first_name).where(Contact.email == "q@example.org")) == "=SUM(A1)"


def test_an_interrupted_import_completes_when_run_again(app, monkeypatch):
    make_plan()
    db.session.commit()
    rows = "".join(f"m{i}@example.org,Member {i},standard,active,2027-01-01\r\n" for i in range(30))
    text = "email,first_name,plan,status,paid_through\r\n" + rows
    mapping = import_service.guess_mapping(import_service.read_headers(text))
    real, calls = import_service.import_chunk, []

    def crash_on_second(chunk, report, source):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        real(chunk, report, source)

    monkeypatch.setattr(import_service, "import_chunk", crash_on_second)
    with pytest.raises(RuntimeError):
        import_service.import_members(text, mapping, chunk_size=10, on_chunk=db.session.commit)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 10
    monkeypatch.setattr(import_service, "import_chunk", real)
    report = import_service.import_members(text, mapping, chunk_size=10, on_chunk=db.session.commit)
    db.session.commit()
    assert (report.created, report.unchanged) == (20, 10)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 30
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 30


def test_a_mixed_import_gives_each_new_member_one_membership_and_event_and_updates_those_on_file(app):
    plan = make_plan()
    on_file = make_contact("onfile@example.org", first_name="On", last_name="File")
    kept = make_membership(on_file, plan, status="lapsed")
    declared = make_contact("declared@example.org", first_name="Dee", last_name="Clared")
    db.session.add(GiftAidDeclaration(contact_id=declared.id, source="form", wording="Held on file.",
                                      house="1", postcode="N1 9GU"))  # fmt: skip
    db.session.commit()
    text_ = (
        "email,first_name,plan,status,paid_through,gift_aid\r\n"
        "new1@example.org,New One,standard,active,2027-03-31,yes\r\n"
        "onfile@example.org,On,standard,active,2027-04-30,no\r\n"
        "new2@example.org,New Two,standard,grace,2027-05-31,no\r\n"
        "declared@example.org,Dee,,,,yes\r\n"
        "new3@example.org,New Three,,,,yes\r\n"
    )
    mapping = import_service.guess_mapping(import_service.read_headers(text_))
    report = import_service.import_members(text_, mapping, chunk_size=3, on_chunk=db.session.commit)
    db.session.commit()
    assert (report.created, report.updated, report.errors) == (3, 1, [])

    ids = {email: cid for email, cid in db.session.execute(select(Contact.email, Contact.id))}
    memberships = list(db.session.execute(select(Membership.contact_id, Membership.id, Membership.status)))
    assert sorted((cid, status) for cid, _, status in memberships) == sorted(
        [
            (ids["new1@example.org"], "active"),
            (ids["onfile@example.org"], "active"),
            (ids["new2@example.org"], "grace"),
        ]
    )
    assert {mid for cid, mid, _ in memberships if cid == ids["onfile@example.org"]} == {
        kept.id
    }  # updated, not doubled
    events = list(
        db.session.execute(
            select(MembershipEvent.membership_id, MembershipEvent.from_status, MembershipEvent.to_status)
        )
    )
    by_contact = {cid: mid for cid, mid, _ in memberships}
    assert sorted(events) == sorted([(by_contact[ids["new1@example.org"]], None, "active"),
                                     (by_contact[ids["new2@example.org"]], None, "grace"),
                                     (kept.id, "lapsed", "active")])  # fmt: skip
    declarations = list(db.session.scalars(select(GiftAidDeclaration.contact_id)))
    assert sorted(declarations) == sorted(
        [ids["declared@example.org"], ids["new1@example.org"], ids["new3@example.org"]]
    )

    again = import_service.import_members(text_, mapping, chunk_size=3, on_chunk=db.session.commit)
    db.session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert db.session.scalar(select(func.count()).select_from(Membership)) == 3
    assert db.session.scalar(select(func.count()).select_from(GiftAidDeclaration)) == 3


@pytest.fixture
def search_index(app):  # type: ignore[no-untyped-def]
    from crm.staff.search import ensure_search_indexes

    ensure_search_indexes(db.engine)
    return app


def test_imported_members_get_their_number_are_found_by_it_and_later_sign_ups_get_new_ids(
    search_index, existing
):
    text = (
        "email,first_name,last_name,postcode,plan,status,paid_through\r\n"
        "newmember@example.org,Rosa,Quispe,LS6 2AB,standard,active,2027-06-30\r\n"
        "reader@example.org,Wen,Okafor,LS7 3CD,,,\r\n"
        "existing@example.org,Old,Name,,standard,active,2027-06-30\r\n"
    )
    columns = ("email", "first_name", "last_name", "postcode", "plan", "status", "paid_through")
    report = import_service.import_members(text, {k: k for k in columns})
    db.session.commit()
    assert (report.created, report.updated, [e.reason for e in report.errors]) == (2, 1, [])
    by_email = {c.email: c for c in db.session.scalars(select(Contact))}
    member, reader, old = (
        by_email["newmember@example.org"],
        by_email["reader@example.org"],
        by_email["existing@example.org"],
    )
    assert member.member_number == f"M{member.id:06d}" and old.member_number == f"M{old.id:06d}"
    assert reader.member_number is None  # no plan: a contact, not a member
    from crm.staff.search import search_contacts

    for query in (member.member_number, member.member_number.lower(), "quisp", "ls62ab"):
        assert [c.email for c in search_contacts(query)] == ["newmember@example.org"], query
    assert [c.email for c in search_contacts(old.member_number)] == ["existing@example.org"]
    assert [c.email for c in search_contacts("okafor")] == ["reader@example.org"]

    # Someone joining after the import takes the next id: the import's ids came from the database's own counter.
    later = make_contact("later@example.org")
    db.session.commit()
    assert later.id > max(member.id, reader.id)


def _index_segments() -> int:
    return db.session.scalar(text("SELECT count(DISTINCT segid) FROM contact_search_idx"))


def test_imported_and_re_imported_contacts_are_found_by_search_and_later_edits_are_indexed_again(
    search_index, existing
):
    from crm.staff.search import search_contacts

    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:  # FTS5 merges nothing during the test, so each write of the index shows as a segment
        db.session.execute(text("INSERT INTO contact_search(contact_search, rank) VALUES ('automerge', 0)"))
        db.session.execute(
            text("INSERT INTO contact_search(contact_search, rank) VALUES ('crisismerge', 2000)")
        )
        db.session.commit()
        before = _index_segments()
    rows = "".join(f"person{i}@example.org,Person,Quillfeather{i},LS{i % 9 + 1} 1AB,,\r\n" for i in range(60))
    header = "email,first_name,last_name,postcode,plan,status\r\n"
    columns = {k: k for k in ("email", "first_name", "last_name", "postcode", "plan", "status")}
    report = import_service.import_members(header + rows, columns, chunk_size=20, on_chunk=db.session.commit)
    db.session.commit()
    assert (report.created, report.errors) == (60, [])
    if sqlite:
        # One index segment per chunk of 20: the triggers stood aside and each chunk was indexed at once
        # (a trigger per row wrote 60 one-row segments, and FTS5 merged them over and over).
        assert _index_segments() - before == 3
    assert [c.email for c in search_contacts("quillfeather17")] == ["person17@example.org"]
    assert len(search_contacts("quillfeather")) == 50  # the page's limit: all 60 match

    # Again, with a new surname for one and a plan for another: both are re-indexed, the old text is gone.
    again = (
        "email,first_name,last_name,postcode,plan,status,paid_through\r\n"
        "person3@example.org,Person,Marlowe,LS4 1AB,,,\r\nperson4@example.org,Person,Quillfeather4,,standard,active,2027-06-30\r\n"
    )
    report = import_service.import_members(again, {**columns, "paid_through": "paid_through"})
    db.session.commit()
    assert (report.updated, [e.reason for e in report.errors]) == (2, [])
    assert [c.email for c in search_contacts("marlow")] == ["person3@example.org"]
    assert search_contacts("quillfeather3 person3@") == []  # the old surname, as indexed before
    number = db.session.scalar(select(Contact.member_number).where(Contact.email == "person4@example.org"))
    assert number and [c.email for c in search_contacts(number)] == ["person4@example.org"]

    # Outside an import the triggers index every write again: a sign-up, an edit.
    make_contact("later@example.org", first_name="Ottoline", last_name="Vance")
    existing.last_name = "Brightwater"
    db.session.commit()
    assert [c.email for c in search_contacts("ottolin")] == ["later@example.org"]
    assert [c.email for c in search_contacts("brightwat")] == ["existing@example.org"]
    if sqlite:
        assert db.session.scalar(text("SELECT count(*) FROM contact_search_paused")) == 0


def test_a_failed_import_chunk_leaves_the_search_triggers_working(search_index, existing, monkeypatch):
    from crm.staff import import_writing
    from crm.staff.search import search_contacts

    def fail(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(import_writing, "_write_memberships", fail)
    text_ = "email,first_name,last_name\r\nhalfway@example.org,Half,Way\r\n"
    with pytest.raises(RuntimeError):
        import_service.import_members(
            text_, {"email": "email", "first_name": "first_name", "last_name": "last_name"}
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(Contact.email == "halfway@example.org")) == 0
    make_contact("after@example.org", first_name="Persephone", last_name="Ashdown")
    db.session.commit()
    assert [c.email for c in search_contacts("persephon")] == ["after@example.org"]


def _bulk_settings() -> tuple[object, ...]:
    if db.engine.dialect.name == "postgresql":
        return (db.session.scalar(text("SHOW enable_seqscan")),)
    return (
        db.session.scalar(text("PRAGMA cache_size")),
        db.session.scalar(text("PRAGMA wal_autocheckpoint")),
    )


def test_an_import_chunk_writes_with_bulk_settings_and_every_later_transaction_gets_the_usual_ones(
    app, monkeypatch
):
    """SQLite: a large page cache and rare checkpoints while the chunk's connection is out of the
    pool. PostgreSQL: index lookups only (no sequential scan of a growing table per chunk), for the
    chunk's transaction."""
    from crm.core.database import BULK_SQLITE_PRAGMAS, SQLITE_CACHE_KIB

    make_plan()
    db.session.commit()
    usual = _bulk_settings()
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        bulk = ("off",)
        assert usual == ("on",)
    else:
        bulk = (BULK_SQLITE_PRAGMAS["cache_size"], BULK_SQLITE_PRAGMAS["wal_autocheckpoint"])
        assert usual == (-SQLITE_CACHE_KIB, 1000)  # a small cache per pooled connection (worker memory)
    real, during = import_service.import_chunk, []

    def watch(chunk, report, source):  # type: ignore[no-untyped-def]
        real(chunk, report, source)
        during.append(_bulk_settings())

    monkeypatch.setattr(import_service, "import_chunk", watch)
    rows = "".join(f"bulk{i}@example.org,Bulk {i},standard,active,2027-01-01\r\n" for i in range(25))
    text_ = "email,first_name,plan,status,paid_through\r\n" + rows
    mapping = import_service.guess_mapping(import_service.read_headers(text_))
    after_each_commit = []
    report = import_service.import_members(text_, mapping, chunk_size=10, on_chunk=db.session.commit,
                                           after_chunk=lambda _report: after_each_commit.append(_bulk_settings()))  # fmt: skip
    db.session.commit()
    assert report.created == 25
    assert during == [bulk] * 3
    assert after_each_commit == [usual] * 3
    db.session.commit()
    assert _bulk_settings() == usual


OLD_LIST = (
    "Email,First name,Last name,Plan,Joined,Notes,Membership no,Branch\r\n"
    "recent@example.org,Rae,Recent,standard,{recent},Prefers post,101,North\r\n"
    "old@example.org,Olu,Old,standard,01/02/2019,,102,South\r\n"
    "recent@example.org,Rae,Twice,standard,{recent},,103,North\r\n"
)


def _old_list() -> str:
    from datetime import timedelta

    from crm.core.types import utcnow

    return OLD_LIST.format(recent=(utcnow() - timedelta(days=30)).strftime("%d/%m/%Y"))


def _map_page(staff_client, data: str) -> str:  # type: ignore[no-untyped-def]
    response = _upload(staff_client, data.encode())
    assert response.status_code == 302
    return response.headers["Location"]


def test_an_old_list_with_only_plan_and_joined_date_imports_with_derived_dates_said_in_the_preview(
    staff_client, existing
):
    map_url = _map_page(staff_client, _old_list())
    mapping = {"map_email": "Email", "map_first_name": "First name", "map_last_name": "Last name",
               "map_plan": "Plan", "map_joined": "Joined", "map_notes": "Notes"}  # fmt: skip
    html = staff_client.post(map_url, data=mapping | {"action": "preview"}).get_data(as_text=True)
    assert "joined date + one year" in html and "status lapsed" in html and "status active" in html
    # Preview and import agree on the file's own duplicate.
    assert "already on line 2" in html
    assert "“Membership no”" in html and "“Branch”" in html  # every ignored column named
    result = staff_client.post(map_url, data=mapping | {"action": "import"}).get_data(as_text=True)
    assert "<strong>2</strong> created" in result and "<strong>1</strong> not imported" in result
    recent = db.session.scalar(
        select(Membership)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(Contact.email == "recent@example.org")
    )
    old = db.session.scalar(
        select(Membership)
        .join(Contact, Contact.id == Membership.contact_id)
        .where(Contact.email == "old@example.org")
    )
    assert recent.status == "active" and recent.paid_through > recent.joined_at
    assert old.status == "lapsed" and old.paid_through.date().isoformat() == "2020-02-01"


def test_a_notes_column_becomes_a_staff_note_once(app, existing):
    from crm.contacts.models import Note

    mapping = {"email": "Email", "plan": "Plan", "joined": "Joined", "notes": "Notes"}
    import_service.import_members(_old_list(), mapping)
    import_service.import_members(_old_list(), mapping)
    db.session.commit()
    notes = list(db.session.scalars(select(Note.body)))
    assert notes == ["Imported note: Prefers post"]


def test_a_one_megabyte_cell_is_that_rows_error_not_a_failed_import(staff_client, existing):
    data = "Email,First name\r\nhuge@example.org," + "x" * 1_100_000 + "\r\nfine@example.org,Fay\r\n"
    map_url = _map_page(staff_client, data)
    mapping = {"map_email": "Email", "map_first_name": "First name"}
    preview = staff_client.post(map_url, data=mapping | {"action": "preview"})
    assert preview.status_code == 200 and "longer than 10,000 characters" in preview.get_data(as_text=True)
    result = staff_client.post(map_url, data=mapping | {"action": "import"})
    html = result.get_data(as_text=True)
    assert (
        result.status_code == 200
        and "<strong>1</strong> created" in html
        and "<strong>1</strong> not imported" in html
    )


def test_one_row_is_counted_in_the_singular(staff_client, existing):
    map_url = _map_page(staff_client, "Email\r\none@example.org\r\n")
    preview = staff_client.post(map_url, data={"map_email": "Email", "action": "preview"}).get_data(
        as_text=True
    )
    assert "Import 1 row<" in preview and "1 rows" not in preview
    result = staff_client.post(map_url, data={"map_email": "Email", "action": "import"}).get_data(
        as_text=True
    )
    assert "1 row read." in result and "1 rows" not in result


def test_staff_form_errors_end_with_a_full_stop():
    import inspect
    import re as _re

    from crm.staff import content_forms

    messages = _re.findall(
        r'(?:Required|ValidationError|message=)\(?f?"([^"]+)"', inspect.getsource(content_forms)
    )
    assert messages and [m for m in messages if not m.endswith((".", "?"))] == []
