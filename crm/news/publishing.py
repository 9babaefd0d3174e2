"""Writing and publishing news: save, publish now or later, unpublish, and email a post to members.

Services flush; the staff route, the daily job or the email job commits.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from crm.audit.services import record
from crm.contacts.models import Contact
from crm.core.markup import render_markdown
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.email.services import queue_email
from crm.extensions import db
from crm.jobs.queue import try_enqueue
from crm.memberships.models import ACCESS_STATUSES, Membership
from crm.news.models import Post

log = logging.getLogger("crm.news")

VISIBILITIES = ("public", "members")
#: Contacts emailed per transaction by `email_post_to_members`.
EMAIL_BATCH_SIZE = 500
_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 80) -> str:
    """'Café news: 2026!' -> 'cafe-news-2026' (ASCII letters, digits and hyphens only)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_STRIP.sub("-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-") or "post"


def slug_taken(slug: str, exclude_id: int | None = None) -> bool:
    query = select(Post.id).where(Post.slug == slug)
    if exclude_id is not None:
        query = query.where(Post.id != exclude_id)
    return db.session.scalar(query) is not None


def unique_slug(base: str, exclude_id: int | None = None) -> str:
    """`base`, or `base-2`, `base-3`... whichever is free."""
    slug, n = base, 1
    while slug_taken(slug, exclude_id):
        n += 1
        slug = f"{base[:190]}-{n}"
    return slug


def _snapshot(post: Post) -> dict[str, Any]:
    return {
        "title": post.title,
        "slug": post.slug,
        "summary": post.summary,
        "visibility": post.visibility,
        "status": post.status,
        "publish_at": post.publish_at.isoformat() if post.publish_at else None,
        "body_markdown": post.body_markdown,
        "language": post.language,
        "translated_title": post.translated_title,
        "translated_summary": post.translated_summary,
        "translated_body_markdown": post.translated_body_markdown,
    }


def save_post(
    post: Post | None,
    *,
    title: str,
    slug: str,
    summary: str,
    body_markdown: str,
    visibility: str,
    author: Any = None,
) -> Post:
    """Create or update a post; the body is rendered and sanitised now, never at read time."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"unknown visibility {visibility!r}")
    creating = post is None
    before = None if post is None else _snapshot(post)
    slug = slug.strip() or unique_slug(slugify(title), post.id if post else None)
    if post is None:
        post = Post(author_id=getattr(author, "id", None), status="draft")
        db.session.add(post)
    post.title = title.strip()
    post.slug = slug
    post.summary = summary.strip()
    post.body_markdown = body_markdown
    post.body_html = render_markdown(body_markdown)
    post.visibility = visibility
    db.session.flush()
    record(
        "news.create" if creating else "news.update",
        target_type="news_post",
        target_id=post.id,
        before=before,
        after=_snapshot(post),
        actor=author,
    )
    return post


def publish_post(post: Post, *, now: datetime | None = None, actor: Any = None) -> None:
    before = _snapshot(post)
    post.status = "published"
    post.published_at = now or utcnow()
    post.publish_at = None
    db.session.flush()
    record("news.publish", target_type="news_post", target_id=post.id, before=before, after=_snapshot(post), actor=actor)


def schedule_post(post: Post, when: datetime, *, actor: Any = None) -> None:
    """Publish at `when` (UTC); the daily job calls `publish_due_posts`."""
    if when.tzinfo is None:
        raise ValueError("schedule times are timezone-aware UTC")
    before = _snapshot(post)
    post.status = "scheduled"
    post.publish_at = when
    post.published_at = None
    db.session.flush()
    record("news.schedule", target_type="news_post", target_id=post.id, before=before, after=_snapshot(post), actor=actor)


def unpublish_post(post: Post, *, actor: Any = None) -> None:
    """Back to draft: no longer listed or readable (a scheduled post is unscheduled too)."""
    before = _snapshot(post)
    post.status = "draft"
    post.publish_at = None
    post.published_at = None
    db.session.flush()
    record("news.unpublish", target_type="news_post", target_id=post.id, before=before, after=_snapshot(post), actor=actor)


def publish_due_posts(now: datetime | None = None) -> int:
    """Publish every scheduled post whose time has come, in one UPDATE. Returns how many."""
    now = now or utcnow()
    due = (Post.status == "scheduled") & (Post.publish_at <= now)
    ids = list(db.session.scalars(select(Post.id).where(due)))
    if not ids:
        return 0
    result = db.session.execute(
        update(Post)
        .where(Post.id.in_(ids), due)
        .values(status="published", published_at=Post.publish_at, publish_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount or 0
    record(
        "news.publish_due",
        target_type="news_post",
        target_id=",".join(str(i) for i in ids)[:64],
        after={"published": count, "ids": ids},
        actor_label="system",
    )
    db.session.flush()
    db.session.expire_all()
    # A bulk UPDATE passes the ORM's events by: drop this process's cached news list and page here.
    from crm.news.services import news_list_cache, news_page_cache

    news_list_cache.changed_in(db.session)
    news_page_cache.changed_in(db.session)
    return count


# --- Email a post to members -------------------------------------------------------------------


def _has_access():  # type: ignore[no-untyped-def]
    return exists().where(Membership.contact_id == Contact.id, Membership.status.in_(ACCESS_STATUSES))


def audience_filter():  # type: ignore[no-untyped-def]
    """Members who said yes to email updates and whose membership gives access."""
    return (Contact.email_consent.is_(True)) & (Contact.erased_at.is_(None)) & _has_access()


def count_recipients() -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count(Contact.id)).where(audience_filter())) or 0


def dedupe_key(post_id: int, contact_id: int) -> str:
    return f"news:{post_id}:{contact_id}"


def queue_post_emails(post: Post, after_contact_id: int = 0, limit: int = EMAIL_BATCH_SIZE) -> tuple[int, int | None]:
    """Queue the post for the next `limit` recipients after `after_contact_id`.

    Returns (emails queued, last contact id looked at, or None when there are no more). Contacts
    already sent this post (their dedupe key exists) are skipped with one query per batch.
    """
    contacts = list(
        db.session.scalars(
            select(Contact)
            .where(audience_filter(), Contact.id > after_contact_id)
            .order_by(Contact.id)
            .limit(limit)
        )
    )
    if not contacts:
        return 0, None
    keys = {dedupe_key(post.id, c.id): c for c in contacts}
    already = set(db.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys))))
    base_url = current_app.config["BASE_URL"]
    queued = 0
    for key, contact in keys.items():
        if key in already:
            continue
        context = {
            "post": post,
            "contact": contact,
            "post_url": f"{base_url}/news/{post.slug}",
        }
        # news_post is marketing mail: queue_email adds the unsubscribe link and headers.
        if queue_email(contact.email, "news_post", context, contact_id=contact.id, dedupe_key=key, marketing=True):
            queued += 1
    return queued, contacts[-1].id


def email_post_to_members(post_id: int) -> int:
    """Background job: email a published post once to every consenting member with access.

    Works in batches of EMAIL_BATCH_SIZE contacts, committing each batch (it is the job's edge), so
    a re-run after a crash carries on; the dedupe key makes each email go once. Returns how many
    emails it queued.
    """
    post = db.session.get(Post, post_id)
    if post is None or post.status != "published":
        log.warning("email_post_to_members: post %s missing or not published", post_id)
        return 0
    total, after = 0, 0
    while True:
        try:
            queued, last = queue_post_emails(post, after)
            db.session.commit()
        except IntegrityError:
            # Another run queued some of this batch first: start the batch again, skipping them.
            db.session.rollback()
            post = db.session.get(Post, post_id)
            continue
        total += queued
        if last is None:
            break
        after = last
        db.session.expire_all()
        post = db.session.get(Post, post_id)
    log.info("news post %s emailed to %s members", post_id, total)
    return total


def start_post_email(post: Post, *, actor: Any = None) -> str:
    """Mark the post as emailed and record it; the route commits, then calls `dispatch_post_email`."""
    post.emailed_at = utcnow()
    record(
        "news.email",
        target_type="news_post",
        target_id=post.id,
        after={"recipients": count_recipients()},
        actor=actor,
    )
    db.session.flush()
    return post.slug


def dispatch_post_email(post_id: int) -> str:
    """Run the email job on a worker when Redis is there ("queued"), else right now ("sent")."""
    if try_enqueue("crm.news.publishing.email_post_to_members", post_id):
        return "queued"
    email_post_to_members(post_id)
    return "sent"
