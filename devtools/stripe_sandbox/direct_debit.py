"""Bacs Direct Debit in Checkout: the session completes unpaid and the collection settles later.

`pay_by_direct_debit` is the supporter pressing "Pay by Direct Debit" on the hosted page (the
mandate is accepted, nothing is collected yet: `checkout.session.completed` with
`payment_status: unpaid`). `settle_direct_debit` is the bank's answer days later: success sends
`invoice.paid` (subscriptions) and `checkout.session.async_payment_succeeded`; failure sends
`charge.failed`, `invoice.payment_failed` and `checkout.session.async_payment_failed`, and
ends the subscription (incomplete_expired). `return_direct_debit` is the bank returning a
Direct Debit days after it was collected (first or renewal): the charge fails after
`invoice.paid` (`charge.failed`, `payment_intent.payment_failed`, `invoice.payment_failed`, the
invoice open again and the subscription past_due). All are test controls (POST /_sandbox/<name>).
"""

from __future__ import annotations

import copy
from typing import Any

from devtools.stripe_sandbox.billing import BACS_PAYMENT_METHOD, _as_bacs
from devtools.stripe_sandbox.flows import Conflict, Flows, _diff


class DirectDebitFlows(Flows):
    def pay_by_direct_debit(self, session_id: str) -> dict[str, Any]:
        """The supporter sets up a Direct Debit on the hosted page: complete, unpaid (idempotent)."""
        with self.lock:
            session = self._open_session(session_id)
            if session["status"] != "open":
                if session["status"] == "complete":
                    return copy.deepcopy(session)
                raise Conflict(f"checkout session {session_id} is {session['status']}")
            if "bacs_debit" not in session["payment_method_types"]:
                raise Conflict(f"checkout session {session_id} does not offer Bacs Direct Debit")
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
                    if not price["recurring"]:
                        lines.append({"price": price, "quantity": it["quantity"], "item_id": None,
                                      "start": sub["created"], "end": sub["created"]})  # fmt: skip
                invoice = self._new_invoice(
                    sub, lines, "subscription_create", (sub["created"], sub["created"])
                )
                sub["latest_invoice"] = invoice["id"]
                session.update(subscription=sub["id"], invoice=invoice["id"])
            hidden["direct_debit"] = "processing"
            session.update(
                status="complete", payment_status="unpaid", url=None,
                customer_details={"address": None, "email": customer.get("email") or session["customer_email"],
                                  "name": customer.get("name"), "phone": None, "tax_exempt": "none", "tax_ids": []},
            )  # fmt: skip
            self.emit("checkout.session.completed", session)
            self.save()
            return copy.deepcopy(session)

    def settle_direct_debit(self, session_id: str, succeed: bool = True) -> dict[str, Any]:
        """The bank pays (or refuses) the first Direct Debit of a session set up by Direct Debit."""
        with self.lock:
            session = self.get("checkout.session", session_id)
            hidden = self.hidden.setdefault(session_id, {})
            if hidden.get("direct_debit") != "processing":
                raise Conflict(f"checkout session {session_id} has no Direct Debit being collected")
            if session["mode"] == "subscription":
                sub = self._subscription(session["subscription"])
                invoice = self.get("invoice", session["invoice"])
                intent, charge = self._charge_invoice(invoice, succeed=succeed)
                _as_bacs(intent, charge)
                before = copy.deepcopy(sub)
                if succeed:
                    sub.update(status="active", default_payment_method=BACS_PAYMENT_METHOD)
                    customer = self.get("customer", sub["customer"])
                    customer["invoice_settings"]["default_payment_method"] = BACS_PAYMENT_METHOD
                else:
                    sub.update(status="incomplete_expired", ended_at=self.now())
                self._emit_invoice_result(invoice, intent, charge)
                self.emit("customer.subscription.updated", sub, _diff(before, sub))
            else:
                intent, charge = self._collect(
                    session["customer"], session["amount_total"], session["currency"], "Checkout payment",
                    hidden.get("payment_intent_metadata", {}), succeed=succeed,
                )  # fmt: skip
                _as_bacs(intent, charge)
                self._emit_payment(intent, charge)
                session["payment_intent"] = intent["id"]
            hidden["direct_debit"] = "paid" if succeed else "failed"
            if succeed:
                session["payment_status"] = "paid"
            self.emit(
                "checkout.session.async_payment_succeeded"
                if succeed
                else "checkout.session.async_payment_failed",
                session,
            )
            self.save()
            return copy.deepcopy(session)

    def return_direct_debit(
        self, invoice_id: str | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        """The bank returns a collected Direct Debit (an invoice's, or a one-off session's), days
        after it looked paid: the charge fails; an invoice is open again and its subscription
        past_due, so Stripe's retry (`renew`) can still collect it. Returns the failed charge."""
        with self.lock:
            invoice, paid, intent_id = None, [], None
            if session_id and not invoice_id:
                session = self.get("checkout.session", session_id)
                invoice_id, intent_id = session.get("invoice"), session.get("payment_intent")
            if invoice_id:
                invoice = self.get("invoice", invoice_id)
                paid = [p for p in self.find("invoice_payment", invoice=invoice_id) if p["status"] == "paid"]
                if invoice["status"] != "paid" or not paid:
                    raise Conflict(f"invoice {invoice_id} is not paid")
                intent_id = paid[0]["payment"]["payment_intent"]  # the newest paid attempt
            if not intent_id:
                raise Conflict("name a paid invoice_id or session_id")
            intent = self.get("payment_intent", intent_id)
            charge = self.get("charge", intent["latest_charge"])
            if charge["status"] != "succeeded" or charge["payment_method_details"]["type"] != "bacs_debit":
                raise Conflict(f"charge {charge['id']} is not a collected Direct Debit")
            message = "The customer's bank returned the Direct Debit unpaid (insufficient funds)."
            charge.update(status="failed", paid=False, captured=False, amount_captured=0, balance_transaction=None,
                          failure_code="insufficient_funds", failure_message=message)  # fmt: skip
            intent.update(status="requires_payment_method", amount_received=0, payment_method=None,
                          last_payment_error={"code": "insufficient_funds", "message": message,
                                              "type": "invalid_request_error"})  # fmt: skip
            self.emit("charge.failed", charge)
            self.emit("payment_intent.payment_failed", intent)
            if invoice is not None:
                paid[0].update(status="canceled", amount_paid=None)
                paid[0]["status_transitions"].update(canceled_at=self.now(), paid_at=None)
                invoice.update(status="open", amount_paid=0, amount_remaining=invoice["amount_due"],
                               next_payment_attempt=self.now() + 3 * 86400)  # fmt: skip
                invoice["status_transitions"]["paid_at"] = None
                self.emit("invoice.payment_failed", invoice)
                sub = self._subscription(invoice["parent"]["subscription_details"]["subscription"])
                if sub["status"] == "active":
                    before = copy.deepcopy(sub)
                    sub.update(status="past_due", latest_invoice=invoice["id"])
                    self.emit("customer.subscription.updated", sub, _diff(before, sub))
            self.save()
            return copy.deepcopy(charge)

    # --- cards ---------------------------------------------------------------------------------

    def set_card_expiry(self, customer_id: str, exp_month: int, exp_year: int) -> dict[str, Any]:
        """The customer's default card becomes one expiring at the end of that month (a test
        control: the card a member gave at join, or a new one from the portal)."""
        with self.lock:
            customer = self.get("customer", customer_id)
            method = self.put(
                {
                    "id": self.new_id("payment_method"), "object": "payment_method", "created": self.now(),
                    "customer": customer_id, "livemode": False, "metadata": {}, "type": "card",
                    "billing_details": {"address": None, "email": customer.get("email"), "name": customer.get("name"),
                                        "phone": None},
                    "card": {"brand": "visa", "country": "GB", "exp_month": int(exp_month),
                             "exp_year": int(exp_year), "funding": "credit", "last4": "4242"},
                }
            )  # fmt: skip
            self.emit("payment_method.attached", method)
            customer["invoice_settings"]["default_payment_method"] = method["id"]
            for sub in self.find("subscription", customer=customer_id):
                if sub["status"] not in ("canceled", "incomplete_expired"):
                    before = copy.deepcopy(sub)
                    sub["default_payment_method"] = method["id"]
                    self.emit("customer.subscription.updated", sub, _diff(before, sub))
            self.save()
            return copy.deepcopy(method)
