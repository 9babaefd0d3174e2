"""Building the money objects: payment intents and charges, subscriptions, invoices and their
payments, in Stripe's 2026-10-28.endive shapes, with the events each one emits."""

from __future__ import annotations

import copy
from typing import Any

from devtools.stripe_sandbox.resources import Resources
from devtools.stripe_sandbox.store import add_interval

BACS_PAYMENT_METHOD = "pm_bacs_debit_sandbox"


def _as_bacs(intent: dict[str, Any], charge: dict[str, Any]) -> None:
    """The card details `_collect` fills in, replaced by a Bacs Direct Debit's."""
    succeeded = charge["status"] == "succeeded"
    charge["payment_method"] = BACS_PAYMENT_METHOD
    charge["payment_method_details"] = {
        "type": "bacs_debit",
        "bacs_debit": {"fingerprint": "sandboxbacs", "last4": "2345", "mandate": "mandate_sandbox",
                       "sort_code": "108800"},
    }  # fmt: skip
    if not succeeded:
        charge["failure_code"] = "debit_not_authorized"
        charge["failure_message"] = "The customer's bank did not pay the Direct Debit."
        intent["last_payment_error"] = {"code": "debit_not_authorized", "message": charge["failure_message"],
                                        "type": "invalid_request_error"}  # fmt: skip
    intent["payment_method"] = BACS_PAYMENT_METHOD if succeeded else None
    intent["payment_method_types"] = ["bacs_debit"]


class Billing(Resources):
    # --- money ---------------------------------------------------------------------------------

    def _collect(
        self, customer_id: str | None, amount: int, currency: str, description: str,
        metadata: dict[str, str], *, succeed: bool = True,
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """A payment intent and its charge (succeeded, or failed with a card decline)."""
        now = self.now()
        customer = self.objects.get(customer_id or "", {})
        pi_id, charge_id = self.new_id("payment_intent"), self.new_id("charge")
        pm_id = "pm_card_visa_sandbox"
        charge = self.put(
            {
                "id": charge_id, "object": "charge", "amount": amount,
                "amount_captured": amount if succeed else 0, "amount_refunded": 0,
                "balance_transaction": ("txn_" + charge_id[3:]) if succeed else None,
                "billing_details": {"address": None, "email": customer.get("email"),
                                    "name": customer.get("name"), "phone": None},
                "captured": succeed, "created": now, "currency": currency, "customer": customer_id,
                "description": description, "disputed": False,
                "failure_code": None if succeed else "card_declined",
                "failure_message": None if succeed else "Your card was declined.",
                "livemode": False, "metadata": {},
                "outcome": {"network_status": "approved_by_network" if succeed else "declined_by_network",
                            "reason": None if succeed else "generic_decline", "risk_level": "normal",
                            "seller_message": "Payment complete." if succeed else "The bank did not return any further details with this decline.",
                            "type": "authorized" if succeed else "issuer_declined"},
                "paid": succeed, "payment_intent": pi_id, "payment_method": pm_id,
                "payment_method_details": {"type": "card", "card": {"brand": "visa", "country": "GB",
                                           "exp_month": 12, "exp_year": 2034, "funding": "credit", "last4": "4242"}},
                "receipt_email": customer.get("email"), "receipt_url": None, "refunded": False,
                "status": "succeeded" if succeed else "failed",
            }
        )  # fmt: skip
        intent = self.put(
            {
                "id": pi_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
                "amount_received": amount if succeed else 0, "capture_method": "automatic",
                "confirmation_method": "automatic", "created": now, "currency": currency,
                "customer": customer_id, "description": description,
                "last_payment_error": None if succeed else {"code": "card_declined", "decline_code": "generic_decline",
                                                            "message": "Your card was declined.", "type": "card_error"},
                "latest_charge": charge_id, "livemode": False, "metadata": dict(metadata),
                "payment_method": pm_id if succeed else None, "payment_method_types": ["card"],
                "status": "succeeded" if succeed else "requires_payment_method",
            }
        )  # fmt: skip
        return intent, charge

    def _emit_payment(self, intent: dict[str, Any], charge: dict[str, Any]) -> None:
        if charge["status"] == "succeeded":
            self.emit("charge.succeeded", charge)
            self.emit("payment_intent.succeeded", intent)
        else:
            self.emit("charge.failed", charge)
            self.emit("payment_intent.payment_failed", intent)

    # --- subscriptions and invoices ------------------------------------------------------------

    def _new_subscription(
        self, customer_id: str, items: list[dict[str, Any]], metadata: dict[str, str]
    ) -> dict[str, Any]:
        now = self.now()
        sub_id = self.new_id("subscription")
        recurring = [it for it in items if self.get("price", it["price"])["recurring"]]
        sub_items = []
        for it in recurring:
            price = self.get("price", it["price"])
            sub_items.append(
                {
                    "id": self.new_id("subscription_item"), "object": "subscription_item", "created": now,
                    "current_period_start": now,
                    "current_period_end": add_interval(now, price["recurring"]["interval"],
                                                       price["recurring"]["interval_count"]),
                    "discounts": [], "metadata": {}, "price": copy.deepcopy(price),
                    "quantity": it["quantity"], "subscription": sub_id, "tax_rates": [],
                }
            )  # fmt: skip
        return self.put(
            {
                "id": sub_id, "object": "subscription", "application": None, "billing_cycle_anchor": now,
                "billing_mode": {"type": "flexible"}, "cancel_at": None, "cancel_at_period_end": False,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": "charge_automatically", "created": now,
                "currency": sub_items[0]["price"]["currency"], "customer": customer_id,
                "default_payment_method": None, "description": None, "discounts": [], "ended_at": None,
                "items": {"object": "list", "data": sub_items, "has_more": False, "total_count": len(sub_items),
                          "url": f"/v1/subscription_items?subscription={sub_id}"},
                "latest_invoice": None, "livemode": False, "metadata": dict(metadata),
                "pause_collection": None, "start_date": now, "status": "incomplete",
                "trial_end": None, "trial_start": None,
            }
        )  # fmt: skip

    def _new_invoice(
        self, sub: dict[str, Any], lines: list[dict[str, Any]], reason: str, period: tuple[int, int]
    ) -> dict[str, Any]:
        """An open invoice for `sub`; `lines` are (price, quantity, period start, period end)."""
        now = self.now()
        invoice_id = self.new_id("invoice")
        self.invoice_number += 1
        customer = self.objects.get(sub["customer"], {})
        line_rows = []
        for i, line in enumerate(lines):
            price, quantity = line["price"], line["quantity"]
            product = self.objects.get(price["product"], {})
            line_rows.append(
                {
                    "id": f"il_{invoice_id[3:]}{i}", "object": "line_item",
                    "amount": price["unit_amount"] * quantity, "currency": price["currency"],
                    "description": f"{quantity} × {product.get('name', 'Item')}",
                    "discount_amounts": [], "discountable": True, "discounts": [], "invoice": invoice_id,
                    "livemode": False, "metadata": {},
                    "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                               "subscription_item_details": {"invoice_item": None, "proration": False,
                                                             "proration_details": {"credited_items": None},
                                                             "subscription": sub["id"],
                                                             "subscription_item": line.get("item_id")}},
                    "period": {"start": line["start"], "end": line["end"]},
                    "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                                "unit_amount_decimal": str(price["unit_amount"])},
                    "quantity": quantity, "subtotal": price["unit_amount"] * quantity, "taxes": [],
                }
            )  # fmt: skip
        total = sum(row["amount"] for row in line_rows)
        return self.put(
            {
                "id": invoice_id, "object": "invoice", "amount_due": total, "amount_overpaid": 0,
                "amount_paid": 0, "amount_remaining": total, "attempt_count": 0, "attempted": False,
                "auto_advance": True, "billing_reason": reason, "collection_method": "charge_automatically",
                "created": now, "currency": sub["currency"], "customer": sub["customer"],
                "customer_email": customer.get("email"), "customer_name": customer.get("name"),
                "description": None, "due_date": None, "effective_at": now, "ending_balance": 0,
                "hosted_invoice_url": None, "invoice_pdf": None, "livemode": False,
                "lines": {"object": "list", "data": line_rows, "has_more": False, "total_count": len(line_rows),
                          "url": f"/v1/invoices/{invoice_id}/lines"},
                "metadata": {}, "next_payment_attempt": None, "number": f"SANDBOX-{self.invoice_number:04d}",
                "parent": {"type": "subscription_details", "quote_details": None,
                           "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"],
                                                    "subscription_proration_date": None}},
                "period_end": period[1], "period_start": period[0], "starting_balance": 0,
                "status": "open", "status_transitions": {"finalized_at": now, "marked_uncollectible_at": None,
                                                         "paid_at": None, "voided_at": None},
                "subtotal": total, "total": total,
            }
        )  # fmt: skip

    def _charge_invoice(
        self, invoice: dict[str, Any], *, succeed: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Attempt payment of an invoice, recording the payment intent as an invoice payment."""
        description = (
            "Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else "Subscription update"
        )
        intent, charge = self._collect(
            invoice["customer"], invoice["amount_due"], invoice["currency"], description, {}, succeed=succeed
        )
        sub = self.objects.get(invoice["parent"]["subscription_details"]["subscription"] or "", {})
        if sub.get("default_payment_method") == BACS_PAYMENT_METHOD:  # renewals of a Direct Debit
            _as_bacs(intent, charge)
        now = self.now()
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        self.put(
            {
                "id": self.new_id("invoice_payment"), "object": "invoice_payment",
                "amount_paid": invoice["amount_due"] if succeed else None,
                "amount_requested": invoice["amount_due"], "created": now, "currency": invoice["currency"],
                "invoice": invoice["id"], "is_default": True, "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                "status": "paid" if succeed else "open",
                "status_transitions": {"canceled_at": None, "paid_at": now if succeed else None},
            }
        )  # fmt: skip
        if succeed:
            invoice.update(amount_paid=invoice["amount_due"], amount_remaining=0, status="paid",
                           next_payment_attempt=None)  # fmt: skip
            invoice["status_transitions"]["paid_at"] = now
        else:
            invoice["next_payment_attempt"] = now + 3 * 86400
        return intent, charge

    def _emit_invoice_result(
        self, invoice: dict[str, Any], intent: dict[str, Any], charge: dict[str, Any]
    ) -> None:
        self._emit_payment(intent, charge)
        if invoice["status"] == "paid":
            self.emit("invoice.paid", invoice)
            self.emit("invoice.payment_succeeded", invoice)
        else:
            self.emit("invoice.payment_failed", invoice)

    def _subscription(self, sub_id: str) -> dict[str, Any]:
        return self.get("subscription", sub_id)

    def _period_lines(self, sub: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"price": it["price"], "quantity": it["quantity"], "item_id": it["id"],
             "start": it["current_period_start"], "end": it["current_period_end"]}
            for it in sub["items"]["data"]
        ]  # fmt: skip

    def _advance_period(self, sub: dict[str, Any]) -> None:
        for item in sub["items"]["data"]:
            recurring = item["price"]["recurring"]
            start = item["current_period_end"]
            item["current_period_start"] = start
            item["current_period_end"] = add_interval(
                start, recurring["interval"], recurring["interval_count"]
            )
