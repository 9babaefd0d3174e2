"""Joining, donating and subscribing to updates: thin handlers over crm/join/services.py."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from crm.billing import stripe_gateway as gateway
from crm.contacts import consent
from crm.contacts.gift_aid import gift_aid_wording
from crm.contacts.sources import ContactSource
from crm.extensions import db, limiter
from crm.join import corrections, fulfilment, services, subscribe
from crm.join.forms import (
    ConfirmForm,
    DonateForm,
    JoinForm,
    SubscribeForm,
    email_updates_wording,
)
from crm.memberships import lifecycle
from crm.memberships.models import Membership

bp = Blueprint("join", __name__)
log = logging.getLogger("crm.join")

_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
#: Choices (not personal details) kept in the browser session so that "back" restores them.
_CHOICES = (
    "plan",
    "donation_preset",
    "donation",
    "donation_frequency",
    "gift_aid",
    "email_updates",
    "email_appeals",
)


def _wording() -> dict[str, str]:
    org = current_app.config["ORG_NAME"]
    return {"gift_aid_text": gift_aid_wording(org), "email_updates_text": email_updates_wording(org),
            "email_appeals_text": consent.wording("appeals", org)}  # fmt: skip


def _not_charged(error: gateway.GatewayError) -> str:
    return services.not_charged_message(error)


def _signed_in_member() -> bool:
    return bool(current_user.is_authenticated and lifecycle.has_access(current_user.contact_id))


def _returning_member() -> bool:
    """Signed in, not a member now, but was one before: the form says "welcome back"."""
    if not current_user.is_authenticated or _signed_in_member():
        return False
    latest = lifecycle.latest_membership(current_user.contact_id)
    return latest is not None and latest.joined_at is not None


def _known_details() -> dict[str, Any]:
    """A signed-in person's details, so that renewing does not mean typing them all again."""
    # Members only: staff at /join may be filling it in for someone else.
    signed_in_member = current_user.is_authenticated and current_user.role == "member"
    contact = current_user.contact if signed_in_member else None
    if contact is None:
        return {}
    details = {name: getattr(contact, name) for name in services.CONTACT_FIELDS if getattr(contact, name)}
    details["email"] = contact.email
    return details


def _is_renewal(checkout: gateway.CheckoutResult) -> bool:
    """The paying contact had a membership before this one (a renewal or rejoin, not a first join)."""
    try:
        contact_id = checkout.number("contact_id")
        membership_id = checkout.number("membership_id")
    except ValueError:
        return False
    earlier = db.session.scalar(
        select(Membership.id)
        .where(
            Membership.contact_id == contact_id,
            Membership.id != membership_id,
            Membership.joined_at.is_not(None),
        )
        .limit(1)
    )
    return earlier is not None


def _contact_details(form: JoinForm) -> dict[str, Any]:
    return {name: getattr(form, name).data for name in services.CONTACT_FIELDS}


def _render_join(form: JoinForm, plans: list[Any], status: int = 200, *, sign_in: bool = False):
    return (
        render_template(
            "join/join.html",
            form=form,
            plans=plans,
            sign_in_needed=sign_in,
            already_member=_signed_in_member(),
            returning=_returning_member(),
            cancelled=request.args.get("cancelled") == "1",
            **_wording(),
        ),
        status,
    )


@bp.route("/join", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
def join():
    plans = services.active_plans()
    if request.method == "GET":
        saved = corrections.restore() if request.args.get("cancelled") == "1" else None
        wanted = request.args.get("plan", "")
        data = dict(saved or {})
        if not data:
            data.update(_known_details())
            if wanted:
                data["plan"] = next((str(p.id) for p in plans if p.slug == wanted), "")
        return _render_join(JoinForm(plans=plans, data=data), plans)

    form = JoinForm(plans=plans)
    if not form.validate_on_submit():
        return _render_join(form, plans, 400 if "csrf_token" in form.errors else 200)
    plan = form.chosen_plan
    existing = services.find_contact(form.email.data)
    if existing is not None and (current := lifecycle.current_membership(existing.id)) is not None:
        if current.status in lifecycle.MEMBER_STATUSES:
            return _render_join(form, plans, sign_in=True)
    try:
        checkout = _start_checkout(form, plan)
    except lifecycle.AlreadyMember:
        db.session.rollback()
        return _render_join(form, plans, sign_in=True)
    except lifecycle.PartnerNotAllowed:
        db.session.rollback()
        form.partner_email.errors = [gettext("The second adult cannot be named on this membership.")]
        return _render_join(form, plans)
    except gateway.GatewayError as error:
        # The contact and pending membership are kept (nothing else), so trying again reuses them
        # and the same idempotency key: a session Stripe made before the connection dropped is reused.
        db.session.commit()
        form.form_errors.append(_not_charged(error))
        return _render_join(form, plans)
    _remember_regular_gift(form, checkout)
    return redirect(checkout.url, code=303)


def _remember_regular_gift(form: JoinForm, checkout: services.Checkout) -> None:
    """A monthly or yearly gift chosen at join is its own subscription, set up once the membership
    is paid for (the success page's button): the browser session keeps what was chosen."""
    if form.regular_gift is None:
        session.pop("regular_gift", None)
        return
    session["regular_gift"] = {
        "checkout": checkout.session_id,
        "amount": form.donation_amount,
        "frequency": form.regular_gift,
        "gift_aid": bool(form.gift_aid.data),
        "nonce": services.new_form_nonce(),
    }


def _regular_gift_after(checkout: gateway.CheckoutResult, state: str) -> dict[str, Any] | None:
    """The regular gift chosen with this membership, once its Checkout is paid or being paid."""
    gift = session.get("regular_gift")
    if not gift or state not in ("done", "direct_debit") or gift.get("checkout") != checkout.id:
        return None
    return dict(gift)


@bp.post("/join/regular-gift")
@limiter.limit("30 per hour")
def start_regular_gift():
    """The second step of a join with a monthly or yearly gift: its own Checkout (subscription)."""
    gift = session.get("regular_gift")
    form = ConfirmForm()
    if not gift or not form.validate_on_submit():
        return redirect("/donate", code=303)
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_checkout_session_id == gift["checkout"])
    )
    if membership is None:
        return redirect("/donate", code=303)
    try:
        checkout = services.start_donation_checkout(
            membership.contact,
            amount=int(gift["amount"]),
            gift_aid=bool(gift["gift_aid"]),
            email_updates=False,  # asked, and recorded, with the membership
            nonce=str(gift["nonce"]),
            frequency=str(gift["frequency"]),
        )
        db.session.commit()
    except gateway.GatewayError:
        db.session.rollback()
        return redirect("/donate", code=303)
    return redirect(checkout.url, code=303)


def _start_checkout(form: JoinForm, plan: Any) -> services.Checkout:
    """Contact, pending membership and Checkout Session; a double submit that raced is retried
    (the second attempt finds the first one's rows and the same idempotency key)."""
    for attempt in range(3):
        try:
            own = current_user.contact_id if current_user.is_authenticated else None
            contact, created = corrections.contact_for_join(
                form.email.data, _contact_details(form), own_contact_id=own
            )
            partner, partner_created = (
                corrections.partner_for_join(form.partner_email.data, form.partner_details(), contact)
                if form.is_joint
                else (None, False)
            )
            lifecycle.name_partner(lifecycle.start_pending(contact, plan, auto_renew=plan.recurring), partner)
            db.session.commit()  # the pending record exists before Stripe is called
            choices = {name: form[name].data for name in _CHOICES}
            corrections.remember(
                contact, created, {**choices, **corrections.partner_choice(partner, partner_created)}
            )
            # Stripe is never called inside a write transaction (a hanging Stripe would hold the
            # database's write lock): each call's answer is saved and committed before the next.
            services.ensure_plan_price(plan)
            db.session.commit()
            gateway.ensure_customer(contact)
            db.session.commit()
            checkout = services.start_join_checkout(
                contact,
                plan,
                donation=0 if form.regular_gift else form.donation_amount,  # a regular gift follows
                gift_aid=bool(form.gift_aid.data),
                email_updates=bool(form.email_updates.data),
                details=corrections.details_digest(contact, partner),
                email_appeals=bool(form.email_appeals.data),
            )
            db.session.commit()
            return checkout
        except (IntegrityError, OperationalError):
            db.session.rollback()
            if attempt == 2:
                raise
    raise RuntimeError("unreachable")  # pragma: no cover


def _fulfil(checkout: gateway.CheckoutResult) -> str:
    """Run the webhook's fulfilment; a race with the webhook is retried once and then settles."""
    for attempt in range(3):
        try:
            result = fulfilment.fulfil_checkout_session(checkout)
            db.session.commit()
            return result
        except (IntegrityError, OperationalError):
            db.session.rollback()
            if attempt == 2:
                log.warning("success page: fulfilment kept racing; the webhook will finish it")
    return "pending"


@bp.get("/join/success")
@limiter.limit("30 per minute")  # each visit asks Stripe for the session
def success():
    session_id = request.args.get("session_id", "")
    state, kind, renewal, regular_gift = "confirming", "membership", False, None
    if _SESSION_ID.match(session_id):
        try:
            checkout = gateway.retrieve_checkout(session_id)
        except gateway.GatewayError:
            checkout = None
        if checkout is not None:
            kind = checkout.kind or "membership"
            result = _fulfil(checkout)
            if result in ("activated", "already", "donation"):
                state = "done"
            elif result == "unpaid" and checkout.awaiting_collection:
                state = "direct_debit"  # Bacs: the first collection settles in a few days
            renewal = kind == "renewal" or (kind == "membership" and _is_renewal(checkout))
            regular_gift = _regular_gift_after(checkout, state) if kind == "membership" else None
    if state == "done":
        corrections.forget()
        session.pop("donate_nonce", None)
        if kind == "donation":
            session.pop("regular_gift", None)
    return render_template(
        "join/success.html",
        state=state,
        kind=kind,
        is_renewal=renewal,
        signed_in=current_user.is_authenticated,
        regular_gift=regular_gift,
        confirm_form=ConfirmForm(),
    )


@bp.route("/donate", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
def donate():
    form = DonateForm()
    nonce = session.setdefault("donate_nonce", services.new_form_nonce())
    if request.method == "POST" and form.validate_on_submit():
        details = {"first_name": form.first_name.data, "last_name": form.last_name.data}
        if form.gift_aid.data:
            details.update(address_line1=form.address_line1.data, postcode=form.postcode.data)
        try:
            contact = services.find_or_create_contact(form.email.data, details, source=ContactSource.DONATE)
            db.session.commit()  # no write transaction open while Stripe is called
            gateway.ensure_customer(contact)
            db.session.commit()
            checkout = services.start_donation_checkout(
                contact,
                amount=form.amount_minor,
                gift_aid=bool(form.gift_aid.data),
                email_updates=bool(form.email_updates.data),
                email_appeals=bool(form.email_appeals.data),
                nonce=nonce,
                frequency=form.frequency.data or "once",
                cover_fee=bool(form.cover_fee.data),
            )
            db.session.commit()
        except gateway.GatewayError as error:
            db.session.rollback()
            form.form_errors.append(_not_charged(error))
        else:
            return redirect(checkout.url, code=303)
    status = 400 if "csrf_token" in form.errors else 200
    return render_template("join/donate.html", form=form, **_wording()), status


@bp.route("/subscribe", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def subscribe_page():
    form = SubscribeForm()
    if request.method == "POST" and form.validate_on_submit():
        subscribe.request_subscription(
            form.email.data,
            form.first_name.data,
            form.last_name.data or "",
            purposes=form.chosen_purposes(),
            postcode=form.postcode.data or "",
        )
        db.session.commit()
        return render_template("join/subscribe_sent.html")
    status = 400 if "csrf_token" in form.errors else 200
    return render_template("join/subscribe.html", form=form, **_wording()), status


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def subscribe_confirm(token: str):
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        confirmed = subscribe.confirm_subscription(token)
        db.session.commit()
        return render_template("join/subscribe_done.html", confirmed=confirmed)
    valid = subscribe.token_is_valid(token)
    return render_template("join/subscribe_confirm.html", form=form, valid=valid)
