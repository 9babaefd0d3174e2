"""What happens to money and subscriptions: checkout, renewals, failures, refunds, disputes.

Each public method is a test control (also reachable as POST /_sandbox/<name>) or an API
operation; every state change emits the events Stripe would send.
"""

from __future__ import annotations

import copy
from typing import Any

from devtools.stripe_sandbox.billing import Billing
from devtools.stripe_sandbox.encoding import BadParam, as_bool, as_int, as_list, as_metadata
from devtools.stripe_sandbox.resources import _check_params, _merge_metadata
from devtools.stripe_sandbox.store import NotFound


class Conflict(ValueError):
    """A control that makes no sense in the object's current state (HTTP 400)."""


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: before.get(k) for k in after if before.get(k) != after.get(k)}


class Flows(Billing):
    # --- checkout controls ---------------------------------------------------------------------

    def _open_session(self, session_id: str) -> dict[str, Any]:
        session = self.get("checkout.session", session_id)
        if session["status"] == "open" and session["expires_at"] <= self.now():
            self._expire(session)
        return session

    def _customer_for(self, session: dict[str, Any]) -> str:
        """The session's customer, made (and announced) on first payment when it had none."""
        customer_id = session["customer"]
        if customer_id is None:
            customer_id = self.create_customer({"email": session["customer_email"] or ""})["id"]
            self.emit("customer.created", self.objects[customer_id])
            session["customer"] = customer_id
        return str(customer_id)

    def pay(self, session_id: str) -> dict[str, Any]:
        """The supporter pays on the hosted page: completes the session (idempotent)."""
        with self.lock:
            session = self._open_session(session_id)
            if session["status"] != "open":
                if session["status"] == "complete":
                    return copy.deepcopy(session)
                raise Conflict(f"checkout session {session_id} is {session['status']}")
            hidden = self.hidden.setdefault(session_id, {})
            customer_id = self._customer_for(session)
            customer = self.get("customer", customer_id)
            items = hidden.get("line_items", [])
            if session["mode"] == "subscription":
                sub = self._new_subscription(customer_id, items, hidden.get("subscription_metadata", {}))
                self.emit("customer.subscription.created", sub)
                lines = self._period_lines(sub)
                for it in items:
                    price = self.get("price", it["price"])
                    if not price["recurring"]:  # one-off extras go on the first invoice
                        lines.append({"price": price, "quantity": it["quantity"], "item_id": None,
                                      "start": sub["created"], "end": sub["created"]})  # fmt: skip
                invoice = self._new_invoice(
                    sub, lines, "subscription_create", (sub["created"], sub["created"])
                )
                intent, charge = self._charge_invoice(invoice, succeed=True)
                before = copy.deepcopy(sub)
                sub.update(
                    status="active",
                    latest_invoice=invoice["id"],
                    default_payment_method=intent["payment_method"],
                )
                customer["invoice_settings"]["default_payment_method"] = intent["payment_method"]
                self._emit_invoice_result(invoice, intent, charge)
                self.emit("customer.subscription.updated", sub, _diff(before, sub))
                session.update(subscription=sub["id"], invoice=invoice["id"])
            else:
                intent, charge = self._collect(
                    customer_id, session["amount_total"], session["currency"], "Checkout payment",
                    hidden.get("payment_intent_metadata", {}),
                )  # fmt: skip
                self._emit_payment(intent, charge)
                session["payment_intent"] = intent["id"]
            session.update(
                status="complete", payment_status="paid", url=None,
                customer_details={"address": None, "email": customer.get("email") or session["customer_email"],
                                  "name": customer.get("name"), "phone": None, "tax_exempt": "none", "tax_ids": []},
            )  # fmt: skip
            self.emit("checkout.session.completed", session)
            self.save()
            return copy.deepcopy(session)

    def decline(self, session_id: str) -> dict[str, Any]:
        """The card is declined on the hosted page: nothing is paid, the session stays open."""
        with self.lock:
            session = self._open_session(session_id)
            if session["status"] != "open":
                raise Conflict(f"checkout session {session_id} is {session['status']}")
            self.hidden.setdefault(session_id, {})["declines"] = (
                self.hidden[session_id].get("declines", 0) + 1
            )
            self.save()
            return copy.deepcopy(session)

    def _expire(self, session: dict[str, Any]) -> None:
        session.update(status="expired", url=None)
        self.emit("checkout.session.expired", session)

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an open session now (Stripe does so after 24 hours)."""
        with self.lock:
            session = self.get("checkout.session", session_id)
            if session["status"] != "open":
                raise BadParam(
                    f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session '
                    f'has a status of "{session["status"]}".',
                    "session",
                )
            self._expire(session)
            self.save()
            return copy.deepcopy(session)

    # --- subscription controls -----------------------------------------------------------------

    def renew(self, subscription_id: str) -> dict[str, Any]:
        """The period ends: a past-due invoice is paid; a cancelling subscription ends; otherwise the
        next period is charged (invoice `subscription_cycle`) and the subscription updated."""
        with self.lock:
            sub = self._subscription(subscription_id)
            if sub["status"] in ("canceled", "incomplete_expired"):
                raise Conflict(f"subscription {subscription_id} is {sub['status']}")
            latest = self.objects.get(sub.get("latest_invoice") or "")
            if latest and latest["status"] == "open":
                intent, charge = self._charge_invoice(latest, succeed=True)
                before = copy.deepcopy(sub)
                sub["status"] = "active"
                self._emit_invoice_result(latest, intent, charge)
                self.emit("customer.subscription.updated", sub, _diff(before, sub))
            elif sub["cancel_at_period_end"]:
                self._end(
                    sub, reason="cancellation_requested", at=sub["items"]["data"][0]["current_period_end"]
                )
            else:
                before = copy.deepcopy(sub)
                self._advance_period(sub)
                invoice = self._new_invoice(sub, self._period_lines(sub), "subscription_cycle",
                                            (before["items"]["data"][0]["current_period_start"],
                                             sub["items"]["data"][0]["current_period_start"]))  # fmt: skip
                sub["latest_invoice"] = invoice["id"]
                self.emit("customer.subscription.updated", sub, _diff(before, sub))
                intent, charge = self._charge_invoice(invoice, succeed=True)
                self._emit_invoice_result(invoice, intent, charge)
            self.save()
            return copy.deepcopy(sub)

    def fail_renewal(self, subscription_id: str) -> dict[str, Any]:
        """The renewal payment fails: an open invoice, `invoice.payment_failed`, status past_due.
        Called again while past due, it is another failed retry of the same invoice."""
        with self.lock:
            sub = self._subscription(subscription_id)
            if sub["status"] not in ("active", "past_due"):
                raise Conflict(f"subscription {subscription_id} is {sub['status']}")
            before = copy.deepcopy(sub)
            latest = self.objects.get(sub.get("latest_invoice") or "")
            if not (latest and latest["status"] == "open"):
                self._advance_period(sub)
                latest = self._new_invoice(sub, self._period_lines(sub), "subscription_cycle",
                                           (before["items"]["data"][0]["current_period_start"],
                                            sub["items"]["data"][0]["current_period_start"]))  # fmt: skip
                sub["latest_invoice"] = latest["id"]
            intent, charge = self._charge_invoice(latest, succeed=False)
            sub["status"] = "past_due"
            self._emit_invoice_result(latest, intent, charge)
            if sub != before:
                self.emit("customer.subscription.updated", sub, _diff(before, sub))
            self.save()
            return copy.deepcopy(sub)

    def give_up(self, subscription_id: str) -> dict[str, Any]:
        """Stripe stops retrying: the subscription is cancelled (`customer.subscription.deleted`)."""
        with self.lock:
            sub = self._subscription(subscription_id)
            if sub["status"] == "canceled":
                raise Conflict(f"subscription {subscription_id} is already canceled")
            self._end(sub, reason="payment_failed", at=self.now())
            self.save()
            return copy.deepcopy(sub)

    def _end(self, sub: dict[str, Any], *, reason: str, at: int) -> None:
        sub.update(
            status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at, cancel_at_period_end=False
        )
        sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": reason}
        self.emit("customer.subscription.deleted", sub)

    def set_cancel_at_period_end(self, subscription_id: str, flag: bool) -> dict[str, Any]:
        """The member cancels (or resumes) auto-renewal in the portal."""
        return self.update_subscription(
            subscription_id, {"cancel_at_period_end": "true" if flag else "false"}
        )

    def update_subscription(self, subscription_id: str, params: dict[str, Any]) -> dict[str, Any]:
        allowed = {"cancel_at_period_end", "items", "proration_behavior", "metadata", "expand",
                   "cancellation_details", "description", "default_payment_method"}  # fmt: skip
        _check_params(params, allowed)
        with self.lock:
            sub = self._subscription(subscription_id)
            if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
                raise BadParam(
                    "A canceled subscription can only update its cancellation_details and metadata."
                )
            before = copy.deepcopy(sub)
            if "cancel_at_period_end" in params:
                flag = as_bool(params["cancel_at_period_end"], "cancel_at_period_end")
                end = sub["items"]["data"][0]["current_period_end"]
                sub.update(cancel_at_period_end=flag, cancel_at=end if flag else None,
                           canceled_at=self.now() if flag else None)  # fmt: skip
                sub["cancellation_details"]["reason"] = "cancellation_requested" if flag else None
            for i, change in enumerate(as_list(params.get("items"))):
                item = next((it for it in sub["items"]["data"] if it["id"] == change.get("id")), None)
                if item is None:
                    raise BadParam(f"No such subscription item: '{change.get('id')}'", f"items[{i}][id]")
                if change.get("price"):
                    try:
                        price = self.get("price", change["price"])
                    except NotFound:
                        raise BadParam(f"No such price: '{change['price']}'", f"items[{i}][price]") from None
                    if not price["recurring"]:
                        raise BadParam("The price specified is not recurring.", f"items[{i}][price]")
                    item["price"] = copy.deepcopy(price)
                if change.get("quantity"):
                    item["quantity"] = as_int(change["quantity"], f"items[{i}][quantity]", minimum=1)
            if "metadata" in params:
                sub["metadata"] = _merge_metadata(sub["metadata"], params["metadata"])
            if sub != before:
                self.emit("customer.subscription.updated", sub, _diff(before, sub))
            self.save()
            return sub

    def cancel_subscription(self, subscription_id: str, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, {"invoice_now", "prorate", "cancellation_details", "expand"})
        with self.lock:
            sub = self._subscription(subscription_id)
            if sub["status"] == "canceled":
                raise BadParam(
                    "A canceled subscription can only update its cancellation_details and metadata."
                )
            self._end(sub, reason="cancellation_requested", at=self.now())
            self.save()
            return sub

    # --- refunds and disputes ------------------------------------------------------------------

    def _charge_of(self, target: str) -> dict[str, Any]:
        if target.startswith("pi_"):
            intent = self.get("payment_intent", target)
            return self.get("charge", intent["latest_charge"])
        return self.get("charge", target)

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, {"charge", "payment_intent", "amount", "metadata", "reason", "expand"})
        target = params.get("payment_intent") or params.get("charge")
        if not target:
            raise BadParam(
                "One of the following params should be provided for this request: payment_intent or charge."
            )
        with self.lock:
            try:
                charge = self._charge_of(str(target))
            except NotFound as error:
                raise BadParam(
                    str(error), "payment_intent" if params.get("payment_intent") else "charge"
                ) from None
            if charge["status"] != "succeeded":
                raise BadParam("This charge cannot be refunded because it has not succeeded.", "charge")
            remaining = charge["amount"] - charge["amount_refunded"]
            if remaining <= 0:
                raise BadParam(
                    f"Charge {charge['id']} has already been refunded.",
                    "charge",
                    code="charge_already_refunded",
                )
            amount = as_int(params["amount"], "amount", minimum=1) if params.get("amount") else remaining
            if amount > remaining:
                raise BadParam(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                    "amount",
                )
            refund = self.put(
                {
                    "id": self.new_id("refund"), "object": "refund", "amount": amount,
                    "balance_transaction": None, "charge": charge["id"], "created": self.now(),
                    "currency": charge["currency"], "metadata": as_metadata(params.get("metadata")),
                    "payment_intent": charge["payment_intent"], "reason": params.get("reason") or None,
                    "receipt_number": None, "status": "succeeded",
                }
            )  # fmt: skip
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self.emit("refund.created", refund)
            self.emit("charge.refunded", charge, {"amount_refunded": charge["amount_refunded"] - amount})
            self.save()
            return refund

    def refund(
        self, target: str, amount: int | None = None, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Refund a charge or payment intent (all that is left when `amount` is None)."""
        key = "payment_intent" if target.startswith("pi_") else "charge"
        params: dict[str, Any] = {key: target, "metadata": metadata or {}}
        if amount is not None:
            params["amount"] = str(amount)
        return copy.deepcopy(self.create_refund(params))

    def dispute(self, charge_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """The cardholder disputes a charge: `charge.dispute.created`."""
        with self.lock:
            charge = self._charge_of(charge_id)
            now = self.now()
            dispute = self.put(
                {
                    "id": self.new_id("dispute"), "object": "dispute", "amount": charge["amount"],
                    "balance_transactions": [], "charge": charge["id"], "created": now,
                    "currency": charge["currency"],
                    "evidence_details": {"due_by": now + 7 * 86400, "has_evidence": False,
                                         "past_due": False, "submission_count": 0},
                    "is_charge_refundable": False, "livemode": False, "metadata": {},
                    "payment_intent": charge["payment_intent"], "reason": reason, "status": "needs_response",
                }
            )  # fmt: skip
            charge["disputed"] = True
            self.emit("charge.dispute.created", dispute)
            self.save()
            return copy.deepcopy(dispute)
