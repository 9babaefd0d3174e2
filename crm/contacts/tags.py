"""Tags: staff-defined labels on contacts, added one at a time or to a whole audience at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, select

from crm.contacts.models import Contact, ContactTag, Tag
from crm.core.database import affected_rows
from crm.core.types import UTCDateTime, utcnow
from crm.extensions import db

MAX_TAG_LENGTH = 60


class TagError(ValueError):
    """A tag name that cannot be used (empty or too long)."""


def clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise TagError("Enter a tag name.")
    if len(cleaned) > MAX_TAG_LENGTH:
        raise TagError(f"A tag name is at most {MAX_TAG_LENGTH} characters.")
    return cleaned


def all_tags() -> list[Tag]:
    return list(db.session.scalars(select(Tag).order_by(func.lower(Tag.name))))


def get_or_create(name: str) -> Tag:
    """The tag of that name (matched case-insensitively), created when new. Flushes."""
    cleaned = clean_name(name)
    tag = db.session.scalar(select(Tag).where(func.lower(Tag.name) == cleaned.lower()))
    if tag is None:
        tag = Tag(name=cleaned)
        db.session.add(tag)
        db.session.flush()
    return tag


def tags_of(contact_id: int) -> list[Tag]:
    return list(
        db.session.scalars(
            select(Tag)
            .join(ContactTag, ContactTag.tag_id == Tag.id)
            .where(ContactTag.contact_id == contact_id)
            .order_by(func.lower(Tag.name))
        )
    )


def add_tag(contact_id: int, tag: Tag) -> bool:
    """False when the contact already has it."""
    if db.session.get(ContactTag, (contact_id, tag.id)) is not None:
        return False
    db.session.add(ContactTag(contact_id=contact_id, tag_id=tag.id))
    db.session.flush()
    return True


def remove_tag(contact_id: int, tag_id: int) -> bool:
    result = db.session.execute(
        delete(ContactTag).where(ContactTag.contact_id == contact_id, ContactTag.tag_id == tag_id)
    )
    return bool(affected_rows(result))


def add_tag_to_many(contact_ids: Select[Any], tag: Tag) -> int:
    """Tag every contact a select of contact ids returns (an audience), in one statement. Returns
    how many contacts got the tag now (those who had it are left alone)."""
    ids = contact_ids.subquery()
    already = select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)
    rows = select(ids.c[0], literal(tag.id), literal(utcnow(), UTCDateTime())).where(ids.c[0].not_in(already))
    added = int(db.session.scalar(select(func.count()).select_from(rows.subquery())) or 0)
    if added:
        db.session.execute(
            insert(ContactTag.__table__).from_select(["contact_id", "tag_id", "created_at"], rows)
        )
        db.session.flush()
    return added


def carry_over(kept: Contact, other: Contact) -> None:
    """Merging duplicates: the kept contact gets the duplicate's tags; the duplicate's rows go."""
    kept_id, other_id = kept.id, other.id
    mine = set(db.session.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == kept_id)))
    for tag_id in db.session.scalars(
        select(ContactTag.tag_id).where(ContactTag.contact_id == other_id)
    ).all():
        if tag_id not in mine:
            db.session.add(ContactTag(contact_id=kept_id, tag_id=tag_id))
    db.session.execute(delete(ContactTag).where(ContactTag.contact_id == other_id))
    db.session.flush()
