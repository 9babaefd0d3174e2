"""Saving, using and deleting audiences. Services flush; the route or command commits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select

from crm.audiences import filters as audience_filters
from crm.audiences.models import Audience
from crm.audit.services import record
from crm.contacts import tags
from crm.contacts.models import Contact
from crm.extensions import db

EXPORT_COLUMNS = ["id", "email", "first_name", "last_name", "postcode", "source"]


class AudienceError(ValueError):
    """A name or filter that cannot be saved."""


def save_audience(name: str, raw_filter: Any, *, actor: Any, audience: Audience | None = None) -> Audience:
    """Create (or rename and re-filter) a saved audience. The filter is cleaned against the allow-list."""
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise AudienceError("Give the audience a name of up to 100 characters.")
    try:
        cleaned = audience_filters.clean(raw_filter)
    except audience_filters.FilterError as error:
        raise AudienceError(f"That filter cannot be used: {error}.") from error
    clash = db.session.scalar(select(Audience.id).where(func.lower(Audience.name) == name.lower()))
    if clash is not None and (audience is None or clash != audience.id):
        raise AudienceError("Another audience already has that name.")
    if audience is None:
        audience = Audience(name=name, filters=cleaned, created_by_id=getattr(actor, "id", None))
        db.session.add(audience)
    else:
        audience.name, audience.filters = name, cleaned
    db.session.flush()
    record("audience.save", target_type="audience", target_id=audience.id, after={"name": name, "filters": cleaned},
           actor=actor)  # fmt: skip
    return audience


def count(audience: Audience) -> int:
    """Re-evaluated now: the audience is its filter, not a frozen list."""
    return audience_filters.count(audience_filters.clean(audience.filters))


#: What other domains do before an audience is deleted (campaigns stop the ones scheduled for it),
#: each returning how many of its things it stopped: filled at start-up (`create_app` calls
#: campaigns' `init_app`), so audiences imports no higher domain.
_before_delete: dict[str, Callable[[Audience], int]] = {}


def on_delete(key: str, hook: Callable[[Audience], int]) -> None:
    """Run `hook(audience)` before an audience is deleted; registering a key again replaces it."""
    _before_delete[key] = hook


def delete_audience(audience: Audience, *, actor: Any) -> int:
    """Delete it; a campaign scheduled for it is stopped with the reason. Returns campaigns stopped."""
    stopped = sum(hook(audience) for hook in _before_delete.values())
    record("audience.delete", target_type="audience", target_id=audience.id, before={"name": audience.name},
           after={"campaigns_stopped": stopped}, actor=actor)  # fmt: skip
    db.session.delete(audience)
    db.session.flush()
    return stopped


def tag_audience(audience: Audience, tag_name: str, *, actor: Any) -> int:
    """Add a tag to everyone the audience matches now. Returns how many got it."""
    tag = tags.get_or_create(tag_name)
    added = tags.add_tag_to_many(audience_filters.contact_ids(audience_filters.clean(audience.filters)), tag)
    record("audience.tag", target_type="audience", target_id=audience.id, after={"tag": tag.name, "added": added},
           actor=actor)  # fmt: skip
    return added


def export_lines(audience: Audience, *, actor: Any) -> Iterator[str]:
    """The audience as CSV (formula-safe, like the staff member export); the export is audited."""
    from crm.core.csv_export import csv_lines

    conditions = audience_filters.conditions(audience_filters.clean(audience.filters))
    stmt = select(*(getattr(Contact, c) for c in EXPORT_COLUMNS)).where(*conditions).order_by(Contact.id)
    rows = db.session.execute(stmt.execution_options(yield_per=2000))
    record("audience.export", target_type="audience", target_id=audience.id, actor=actor)
    return csv_lines(EXPORT_COLUMNS, rows)
