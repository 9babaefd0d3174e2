"""Importing members from a messy CSV: validation with line numbers, matching, idempotency, encodings."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.contacts.models import Consent, Contact, GiftAidDeclaration
from crm.extensions import db
from crm.memberships.models import Membership, MembershipEvent
from crm.staff import import_service
from tests.fixtures import make_contact
from tests.staff_content.conftest import make_plan

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
    return client.post("/staff/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_guess_mapping_recognises_common_headers():
    headers = import_service.read_headers(MESSY)
    assert import_service.guess_mapping(headers) == MAPPING


def test_messy_file_through_the_page_reports_each_bad_row_with_its_line(staff_client, existing):
    response = _upload(staff_client, MESSY.encode("cp1252"))
    assert response.status_code == 302
    map_url = response.headers["Location"]
    preview = staff_client.post(map_url, data={f"map_{k}": v for k, v in MAPPING.items()} | {"action": "preview"})
    html = preview.get_data(as_text=True)
    assert "José" in html and "is not a valid email address" in html and "Import 9 rows" in html
    assert _counts()["Contact"] == 2  # staff user and the existing contact: the preview saved nothing

    result = staff_client.post(map_url, data={f"map_{k}": v for k, v in MAPPING.items()} | {"action": "import"})
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    stats = {label: int(n) for n, label in re.findall(r"<strong>(\d+)</strong> (created|updated|unchanged|not imported)", html)}
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
    assert db.session.scalar(select(func.count()).select_from(GiftAidDeclaration).where(GiftAidDeclaration.contact_id == ana.id)) == 1
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
    snapshot = {c.email: (c.first_name, c.last_name, c.postcode, c.version) for c in db.session.scalars(select(Contact))}
    second = import_service.import_members(MESSY, MAPPING, source_name="a.csv")
    db.session.commit()
    assert (first.created, first.updated, len(first.errors)) == (2, 1, 6)
    assert (second.created, second.updated, second.unchanged, len(second.errors)) == (0, 0, 3, 6)
    assert _counts() == counts
    db.session.expire_all()
    assert {c.email: (c.first_name, c.last_name, c.postcode, c.version) for c in db.session.scalars(select(Contact))} == snapshot


def test_matching_ignores_case_and_spaces_and_never_duplicates(app, existing):
    text = "email,last_name\r\n  Existing@EXAMPLE.org  ,Renamed\r\n"
    report = import_service.import_members(text, {"email": "email", "last_name": "last_name"})
    db.session.commit()
    assert (report.created, report.updated) == (0, 1)
    assert db.session.scalar(select(func.count()).select_from(Contact).where(Contact.email.like("existing%"))) == 1


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
    response = staff_client.post(map_url, data={"map_email": "", "map_first_name": "First Name", "map_last_name": "First Name", "action": "import"})
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
    import_service.import_members("email,first_name\r\nq@example.org,'=SUM(A1)\r\n", {"email": "email", "first_name": "first_name"})
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


def test_imported_members_get_their_number_are_found_by_it_and_later_sign_ups_get_new_ids(app, existing):
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
    member, reader, old = by_email["newmember@example.org"], by_email["reader@example.org"], by_email["existing@example.org"]
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
