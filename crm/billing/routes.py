"""Stripe's webhook endpoint (verify, apply once, commit once; any failure is a 500 so Stripe retries)
and the one-click link of a failed-payment email to the billing portal."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, redirect, render_template, request
from sqlalchemy.exc import IntegrityError, OperationalError

from crm.accounts.services import register_no_account_answer
from crm.billing import dunning, webhook
from crm.billing import stripe_gateway as gateway
from crm.billing.models import payment_method_label
from crm.billing.receipt_links import email_receipt_links
from crm.extensions import csrf, db, limiter
from crm.memberships.daily import register_daily_step

bp = Blueprint("billing", __name__)
# A donor without an account who asks for a sign-in or reset link gets their receipt links.
bp.record_once(lambda state: register_no_account_answer(state.app, email_receipt_links))
# Warns members whose card runs out before their next charge (asks Stripe), with the daily run.
bp.record_once(
    lambda state: register_daily_step(
        state.app, "card_expiry_notices", dunning.queue_card_expiry_notices, order=20
    )
)
# How a payment was made, in the page's language (macros/payments.html, the receipt emails).
bp.add_app_template_global(payment_method_label, "payment_method_label")
log = logging.getLogger("crm.billing.webhook")


@bp.post("/stripe/webhook")
@csrf.exempt
@limiter.exempt
def stripe_webhook():
    payload = request.get_data()
    try:
        verified = gateway.verify_webhook(payload, request.headers.get("Stripe-Signature"))
    except gateway.InvalidWebhook as error:
        log.warning("stripe webhook refused: %s", error)
        return jsonify({"error": "invalid signature"}), 400
    if webhook.already_processed(verified.id):  # a redelivery (about half of what Stripe sends)
        return jsonify({"received": True, "result": "duplicate"})
    event = verified.data
    for attempt in range(3):
        try:
            result = webhook.process_event(event, checked=attempt == 0)
            db.session.commit()
            return jsonify({"received": True, "result": result})
        except (IntegrityError, OperationalError):
            # Raced another delivery or the success page: a retry sees what the winner committed.
            db.session.rollback()
            if attempt < 2:
                continue
            log.exception("stripe event %s: kept conflicting; Stripe will retry", verified.id)
        except Exception:
            db.session.rollback()
            log.exception("stripe event %s failed; Stripe will retry", verified.id)
        return jsonify({"error": "not processed"}), 500
    return jsonify({"error": "not processed"}), 500  # pragma: no cover


@bp.get("/billing/update-payment-details/<token>")
def update_payment_details(token: str):
    """The one-click link of a failed-payment email: straight to Stripe's billing portal."""
    contact = dunning.contact_for_update_token(token)
    if contact is None:
        return render_template("billing/update_link_invalid.html"), 404
    try:
        return redirect(dunning.portal_url_for(contact), code=303)
    except gateway.GatewayError as error:
        return render_template("billing/update_link_invalid.html", message=error.user_message), 503
