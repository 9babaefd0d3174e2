"""Staff: the email outbox. Every message, its delivery state and error; "Resend" for failed ones."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from crm.audit.services import record
from crm.core.permissions import requires
from crm.email.dispatch import requeue
from crm.email.models import OutboxMessage, OutboxStatus, kind_name
from crm.email.services import holds_spent_link, safe_summary
from crm.extensions import db
from crm.staff.routes import bp

#: `message.kind | email_kind`: "Event booking confirmed", not "event_booking_confirmed".
bp.add_app_template_filter(kind_name, "email_kind")

PER_PAGE = 50
#: Messages staff may send again: a failed one, or a sent one the member says never arrived.
RESENDABLE = (OutboxStatus.FAILED, OutboxStatus.SENT)


class ResendForm(FlaskForm):
    """Only the CSRF token: the message is named by the URL."""


@bp.get("/outbox")
@requires("outbox")
def outbox_list():
    status = request.args.get("status", "")
    if status not in tuple(OutboxStatus):
        status = ""
    page = request.args.get("page", 1, type=int) or 1
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status:
        query = query.where(OutboxMessage.status == status)
    pagination = db.paginate(query, page=max(page, 1), per_page=PER_PAGE, error_out=False)
    counts = dict(
        db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    )
    return render_template(
        "staff/outbox.html",
        pagination=pagination,
        status=status,
        statuses=tuple(OutboxStatus),
        counts=counts,
        form=ResendForm(),
        resendable=RESENDABLE,
    )


@bp.get("/outbox/<int:message_id>")
@requires("outbox")
def outbox_detail(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    return render_template(
        "staff/outbox_detail.html",
        message=message,
        summary=safe_summary(message.body_text),
        spent_link=holds_spent_link(message),
        form=ResendForm(),
        resendable=RESENDABLE,
    )


@bp.post("/outbox/<int:message_id>/resend")
@requires("outbox")
def outbox_resend(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    form = ResendForm()
    if not form.validate_on_submit():
        abort(400)
    if message.status not in RESENDABLE:
        flash("This message is already waiting to be sent.", "info")
        return redirect(url_for("staff.outbox_detail", message_id=message.id))
    if holds_spent_link(message):
        flash(
            "This email held a one-time link, which is not kept after sending. "
            "Ask the person to request a new link from the sign-in page.",
            "error",
        )
        return redirect(url_for("staff.outbox_detail", message_id=message.id))
    before = {"status": message.status, "attempts": message.attempts, "last_error": message.last_error[:200]}
    requeue(message)
    record(
        "email.resend",
        target_type="email_outbox",
        target_id=message.id,
        contact_id=message.contact_id,
        before=before,
        after={"status": OutboxStatus.QUEUED},
        detail=f"{message.kind} to outbox message {message.id}",
    )
    db.session.commit()
    db.session.refresh(message)
    if message.status == OutboxStatus.SENT:
        flash("The message was sent again.", "success")
    elif message.status == OutboxStatus.FAILED:
        flash(f"Sending failed again: {message.last_error}", "error")
    else:
        flash("The message is queued and will be sent shortly.", "success")
    return redirect(url_for("staff.outbox_detail", message_id=message.id))
