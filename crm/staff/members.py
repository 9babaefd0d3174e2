"""Staff: find members (search, filter, sort, export) and see one contact's whole story."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from crm.accounts.models import User
from crm.audit.models import AuditEvent
from crm.audit.services import record
from crm.billing.donations import payment_intent_for
from crm.billing.models import Payment, PaymentStatus, payment_kind_name, payment_status_name
from crm.contacts import consent as consents
from crm.contacts import sources as contact_sources
from crm.contacts.models import Contact, GiftAidDeclaration, Note
from crm.core.permissions import has_permission, requires
from crm.core.types import utcnow
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import CURRENT_STATUSES, Membership, Plan, status_name
from crm.staff import forms, member_search, search
from crm.staff.exports import audit_member_export, count_members, member_csv_lines
from crm.staff.routes import bp
from crm.staff.search import (
    MemberFilters,
    apply_member_filters,
    count_members_capped,
    gift_aid_declared,
    member_order,
)

PER_PAGE = 50

#: `contact.source | contact_source`: how they came to us, in words, on the contact's page.
bp.add_app_template_filter(contact_sources.label, "contact_source")
#: `consent.source | consent_source`: where a consent or a Gift Aid declaration was recorded.
bp.add_app_template_filter(consents.source_label, "consent_source")
#: `membership.status | membership_status`: "In grace", not the code "grace".
bp.add_app_template_filter(status_name, "membership_status")
#: `payment.status | payment_status`, `payment.kind | payment_kind`: a payment in words.
bp.add_app_template_filter(payment_status_name, "payment_status")
bp.add_app_template_filter(payment_kind_name, "payment_kind")


def _plan_choices(active_only: bool = False) -> list[SelectChoice]:
    """The plans as choices whose value is the plan id (an int, for the forms' coerce=int)."""
    stmt = select(Plan.id, Plan.name, Plan.active).order_by(Plan.display_order, Plan.name)
    return [
        SelectChoice(pid, name if active else f"{name} (retired)")
        for pid, name, active in db.session.execute(stmt)
        if active or not active_only
    ]


def member_filters_from_request() -> tuple[forms.MemberFilterForm, MemberFilters]:
    """Read the filters from the address; a value that does not parse is ignored (and shown)."""
    form = forms.MemberFilterForm(request.args)
    form.plan.choices = [forms.ANY] + [SelectChoice(str(c.value), c.label) for c in _plan_choices()]
    offered = contact_sources.offered(chosen=[form.source.data] if form.source.data else [])
    form.source.choices = [forms.ANY] + [SelectChoice(s, contact_sources.LABELS[s]) for s in offered]
    form.validate()
    ok = lambda field: field.data if not field.errors else None  # noqa: E731
    yes_no = {"yes": True, "no": False}
    filters = MemberFilters(
        q=(ok(form.q) or "").strip(),
        status=ok(form.status) or "",
        plan_id=int(form.plan.data) if ok(form.plan) and str(form.plan.data).isdigit() else None,
        joined_from=ok(form.joined_from),
        joined_to=ok(form.joined_to),
        gift_aid=yes_no.get(ok(form.gift_aid) or ""),
        consent=yes_no.get(ok(form.consent) or ""),
        source=ok(form.source) or "",
        sort=ok(form.sort) or "name",
    )
    return form, filters


def _page_number() -> int:
    page = request.args.get("page", "1")
    return max(1, min(int(page), 100_000)) if page.isdigit() else 1


@bp.route("/members")
@requires("members.view")
def members():
    form, filters = member_filters_from_request()
    page = _page_number()
    cap = search.COUNT_CAP
    columns = select(Contact, Membership, Plan.name, gift_aid_declared(), _is_staff_account()).select_from(
        Contact
    )
    if filters == MemberFilters(q=filters.q):
        # The usual case (a search, in name order): find the page's contacts on `contact` alone,
        # then read their membership, plan and Gift Aid for those few rows only.
        total, ids = member_search.search_page(filters.q, cap=cap, per_page=PER_PAGE, page=page)
        found = {row[0].id: row for row in db.session.execute(
            apply_member_filters(columns, MemberFilters()).where(Contact.id.in_(ids))) } if ids else {}  # fmt: skip
        rows = [found[i] for i in ids if i in found]
    else:
        total = count_members_capped(filters, cap)
        stmt = apply_member_filters(columns, filters)
        rows = db.session.execute(
            stmt.order_by(*member_order(filters.sort)).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
        ).all()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "staff/members_list.html",
        form=form,
        rows=rows,
        now=utcnow(),
        total=min(total, cap),
        more=total > cap,
        page=page,
        pages=max(1, -(-min(total, cap) // PER_PAGE)) + (1 if total > cap else 0),
        args=args,
        export_url=url_for("staff.members_export", **args),
        can_export=has_permission(current_user, "export"),
    )


def _is_staff_account() -> Any:
    """True for a contact that is a staff sign-in, not a member: labelled apart in the list."""
    return (
        select(User.id).where(User.contact_id == Contact.id, User.role != "member").exists().label("is_staff")
    )


@bp.route("/members/export.csv")
@requires("export")
def members_export():
    _form, filters = member_filters_from_request()
    audit_member_export(filters, rows=count_members(filters), via="page")
    db.session.commit()
    response = Response(stream_with_context(member_csv_lines(filters)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="members.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/members/<int:contact_id>/data.<any(json, csv):extension>")
@requires("export")
def member_data(contact_id: int, extension: str):
    """A subject access request answered by staff: the same file a member downloads from their
    account (everything we hold on them), audited as personal data leaving the system."""
    from crm.members_area.export import data_download

    contact = db.get_or_404(Contact, contact_id)
    response = data_download(contact, extension, f"contact-{contact.id}-data.{extension}")
    record("export.subject_access", target_type="contact", target_id=contact.id, contact_id=contact.id,
           detail=extension)  # fmt: skip
    db.session.commit()
    return response


def load_member_story(contact_id: int) -> dict[str, Any]:
    """Everything about one contact in a fixed number of queries, whatever they hold."""
    contact = db.first_or_404(
        select(Contact).where(Contact.id == contact_id).options(selectinload(Contact.user))
    )
    memberships = db.session.scalars(
        select(Membership)
        .where(Membership.contact_id == contact_id)
        .options(selectinload(Membership.plan), selectinload(Membership.events))
        .order_by(Membership.id.desc())
    ).all()
    payments = db.session.scalars(
        select(Payment)
        .where(Payment.contact_id == contact_id)
        .options(selectinload(Payment.refunds))
        .order_by(Payment.paid_at.desc().nulls_last(), Payment.id.desc())
    ).all()
    declarations = db.session.scalars(
        select(GiftAidDeclaration)
        .where(GiftAidDeclaration.contact_id == contact_id)
        .order_by(GiftAidDeclaration.declared_at.desc())
    ).all()
    emails = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.contact_id == contact_id)
        .order_by(OutboxMessage.id.desc())
        .limit(100)
    ).all()
    author = select(Contact.email).join(User, User.contact_id == Contact.id)
    notes = db.session.execute(
        select(Note, author.where(User.id == Note.author_id).scalar_subquery())
        .where(Note.contact_id == contact_id)
        .order_by(Note.id.desc())
    ).all()
    audit = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.contact_id == contact_id)
        .order_by(AuditEvent.id.desc())
        .limit(200)
    ).all()
    current = next((m for m in memberships if m.status in CURRENT_STATUSES), None)
    return {
        "contact": contact,
        "memberships": memberships,
        "current": current,
        "payments": payments,
        "payment_totals": {
            "paid": sum(p.amount for p in payments if p.status != PaymentStatus.FAILED),
            "refunded": sum(p.amount_refunded for p in payments),
        },
        "declarations": declarations,
        "emails": emails,
        "notes": notes,
        "audit": audit,
    }


def action_forms(story: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every action form on the member page; `overrides` carries the one that failed validation."""
    contact = story["contact"]
    overrides = overrides or {}
    plans = _plan_choices(active_only=True)
    built: dict[str, Any] = {}
    built["details"] = overrides.get("details") or forms.ContactDetailsForm(
        obj=contact, formdata=None, data={"version": str(contact.version)}
    )
    built["details"].version.data = built["details"].version.data or str(contact.version)
    for key, form_class in forms.ACTION_FORMS.items():
        built[key] = overrides.get(key) or form_class(prefix=key, formdata=None)
        if "plan" in built[key]:
            built[key].plan.choices = plans
    built["refunds"] = {
        p.id: overrides.get(f"refund-{p.id}") or forms.RefundForm(prefix=f"r{p.id}", formdata=None)
        for p in story["payments"]
        # A donation given with a membership is refunded through the membership's charge.
        if payment_intent_for(p) and p.status in (PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED)
    }
    return built


def render_member_page(contact_id: int, overrides: dict[str, Any] | None = None, status: int = 200):
    story = load_member_story(contact_id)
    return (
        render_template(
            "staff/member_detail.html",
            **story,
            forms=action_forms(story, overrides),
            can_edit=has_permission(current_user, "members.edit"),
            can_refund=has_permission(current_user, "refunds"),
            can_export=has_permission(current_user, "export"),
            unsaved=(overrides or {}).get("unsaved"),
        ),
        status,
    )


@bp.route("/members/<int:contact_id>")
@requires("members.view")
def member(contact_id: int):
    page = render_member_page(contact_id)
    record("member.view", target_type="contact", target_id=contact_id, contact_id=contact_id)
    db.session.commit()
    return page


# The actions (POST forms) are registered by this import.
from crm.staff import member_actions  # noqa: E402,F401
