"""The API's create and update operations, building objects in Stripe's 2026-10-28.endive shapes."""

from __future__ import annotations

import copy
from typing import Any

from devtools.stripe_sandbox.encoding import BadParam, as_bool, as_int, as_list, as_metadata
from devtools.stripe_sandbox.store import NotFound, Store

SESSION_PARAMS = {
    "mode", "customer", "customer_email", "line_items", "metadata", "subscription_data",
    "payment_intent_data", "success_url", "cancel_url", "client_reference_id", "expires_at",
    "expand", "payment_method_types", "locale", "submit_type", "billing_address_collection",
    "customer_update", "allow_promotion_codes", "invoice_creation", "consent_collection",
    "custom_text", "ui_mode", "customer_creation", "phone_number_collection", "automatic_tax",
    "tax_id_collection", "payment_method_collection",
}  # fmt: skip


def _check_params(params: dict[str, Any], allowed: set[str]) -> None:
    for key in params:
        if key not in allowed:
            raise BadParam(f"Received unknown parameter: {key}", key)


def _merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's rules: `metadata=""` clears, `metadata[k]=""` deletes k, others set."""
    if update == "":
        return {}
    merged = dict(current)
    for key, value in as_metadata(update).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class Resources(Store):
    INCLUDABLE = {"checkout.session": ("line_items",), "invoice": ("payments",), "charge": ("refunds",)}

    # --- customers, products, prices -----------------------------------------------------------

    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, {"email", "name", "metadata", "description", "phone", "address", "expand"})
        return self.put(
            {
                "id": self.new_id("customer"),
                "object": "customer",
                "address": params.get("address") or None,
                "balance": 0,
                "created": self.now(),
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": params.get("description") or None,
                "email": params.get("email") or None,
                "invoice_prefix": "SANDBOX",
                "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None},
                "livemode": False,
                "metadata": as_metadata(params.get("metadata")),
                "name": params.get("name") or None,
                "phone": params.get("phone") or None,
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
            }
        )

    def update_customer(self, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, {"email", "name", "metadata", "description", "phone", "address", "expand"})
        customer = self.get("customer", customer_id)
        for key in ("email", "name", "description", "phone", "address"):
            if key in params:
                customer[key] = params[key] or None
        if "metadata" in params:
            customer["metadata"] = _merge_metadata(customer["metadata"], params["metadata"])
        return customer

    def create_product(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, {"name", "description", "metadata", "active", "expand", "id"})
        if not params.get("name"):
            raise BadParam("Missing required param: name.", "name")
        if params.get("description") == "":
            raise BadParam("You passed an empty string for 'description'.", "description")
        now = self.now()
        return self.put(
            {
                "id": params.get("id") or self.new_id("product"),
                "object": "product",
                "active": as_bool(params.get("active", "true"), "active"),
                "created": now,
                "default_price": None,
                "description": params.get("description") or None,
                "images": [],
                "livemode": False,
                "marketing_features": [],
                "metadata": as_metadata(params.get("metadata")),
                "name": params["name"],
                "package_dimensions": None,
                "shippable": None,
                "statement_descriptor": None,
                "tax_code": None,
                "type": "service",
                "unit_label": None,
                "updated": now,
                "url": None,
            }
        )

    def update_product(self, product_id: str, params: dict[str, Any]) -> dict[str, Any]:
        _check_params(params, {"name", "description", "metadata", "active", "expand", "default_price"})
        product = self.get("product", product_id)
        if "name" in params:
            if not params["name"]:
                raise BadParam("You passed an empty string for 'name'.", "name")
            product["name"] = params["name"]
        if "description" in params:
            product["description"] = params["description"] or None
        if "active" in params:
            product["active"] = as_bool(params["active"], "active")
        if "default_price" in params:
            product["default_price"] = params["default_price"] or None
        if "metadata" in params:
            product["metadata"] = _merge_metadata(product["metadata"], params["metadata"])
        product["updated"] = self.now()
        return product

    def create_price(self, params: dict[str, Any], *, inline: bool = False) -> dict[str, Any]:
        allowed = {"product", "product_data", "unit_amount", "currency", "recurring", "metadata", "nickname",
                   "active", "lookup_key", "expand", "tax_behavior"}  # fmt: skip
        _check_params(params, allowed)
        if not params.get("currency"):
            raise BadParam("Missing required param: currency.", "currency")
        if "unit_amount" not in params:
            raise BadParam("Missing required param: unit_amount.", "unit_amount")
        amount = as_int(params["unit_amount"], "unit_amount", minimum=0)
        if params.get("product_data"):
            product_data = params["product_data"]
            product = self.create_product(
                {"name": product_data.get("name") or "Item", "metadata": product_data.get("metadata")}
            )
            product_id = product["id"]
        else:
            product_id = str(params.get("product") or "")
            try:
                self.get("product", product_id)
            except NotFound:
                raise BadParam(f"No such product: '{product_id}'", "product") from None
        recurring = None
        if params.get("recurring"):
            interval = params["recurring"].get("interval")
            if interval not in ("day", "week", "month", "year"):
                raise BadParam("Invalid recurring[interval]", "recurring[interval]")
            recurring = {
                "interval": interval,
                "interval_count": as_int(
                    params["recurring"].get("interval_count", 1), "recurring[interval_count]"
                ),
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            }
        return self.put(
            {
                "id": self.new_id("price"),
                "object": "price",
                "active": False if inline else as_bool(params.get("active", "true"), "active"),
                "billing_scheme": "per_unit",
                "created": self.now(),
                "currency": str(params["currency"]).lower(),
                "custom_unit_amount": None,
                "livemode": False,
                "lookup_key": params.get("lookup_key") or None,
                "metadata": as_metadata(params.get("metadata")),
                "nickname": params.get("nickname") or None,
                "product": product_id,
                "recurring": recurring,
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring" if recurring else "one_time",
                "unit_amount": amount,
                "unit_amount_decimal": str(amount),
            }
        )

    def update_price(self, price_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Only `active`, `metadata`, `nickname` and `lookup_key` can change: prices are immutable."""
        for key in params:
            if key not in ("active", "metadata", "nickname", "lookup_key", "expand", "tax_behavior"):
                raise BadParam(f"Received unknown parameter: {key}", key)
        price = self.get("price", price_id)
        if "active" in params:
            price["active"] = as_bool(params["active"], "active")
        if "nickname" in params:
            price["nickname"] = params["nickname"] or None
        if "lookup_key" in params:
            price["lookup_key"] = params["lookup_key"] or None
        if "metadata" in params:
            price["metadata"] = _merge_metadata(price["metadata"], params["metadata"])
        return price

    # --- checkout and portal -------------------------------------------------------------------

    def _session_items(self, params: dict[str, Any], mode: str) -> list[dict[str, Any]]:
        raw = as_list(params.get("line_items"))
        if not raw:
            raise BadParam("Missing required param: line_items.", "line_items")
        items = []
        for i, entry in enumerate(raw):
            name = f"line_items[{i}]"
            if not isinstance(entry, dict):
                raise BadParam(f"Invalid {name}", name)
            if "quantity" not in entry:
                raise BadParam(f"Missing required param: {name}[quantity].", f"{name}[quantity]")
            quantity = as_int(entry["quantity"], f"{name}[quantity]", minimum=1)
            if entry.get("price_data"):
                price = self.create_price(dict(entry["price_data"]), inline=True)
            elif entry.get("price"):
                try:
                    price = self.get("price", entry["price"])
                except NotFound:
                    raise BadParam(f"No such price: '{entry['price']}'", f"{name}[price]") from None
                if not price["active"]:
                    raise BadParam(
                        "The price specified is inactive. This field only accepts active prices.",
                        f"{name}[price]",
                    )
            else:
                raise BadParam(f"You must specify either `price` or `price_data` in {name}.", name)
            if mode == "payment" and price["recurring"]:
                raise BadParam(
                    "You specified `payment` mode but passed a recurring price. Either switch to "
                    "`subscription` mode or use only one-time prices.",
                    f"{name}[price]",
                )
            items.append({"price": price["id"], "quantity": quantity})
        prices = [self.get("price", it["price"]) for it in items]
        if mode == "subscription" and not any(p["recurring"] for p in prices):
            raise BadParam(
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                "line_items",
            )
        if len({p["currency"] for p in prices}) > 1:
            raise BadParam("All prices must be in the same currency.", "line_items")
        return items

    def create_checkout_session(self, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        _check_params(params, SESSION_PARAMS)
        mode = params.get("mode")
        if mode not in ("payment", "subscription"):
            raise BadParam(
                "Invalid mode: must be one of payment or subscription (setup is not simulated)", "mode"
            )
        if not params.get("success_url"):
            raise BadParam("Missing required param: success_url.", "success_url")
        customer = None
        if params.get("customer"):
            try:
                customer = self.get("customer", params["customer"])
            except NotFound:
                raise BadParam(f"No such customer: '{params['customer']}'", "customer") from None
        items = self._session_items(params, mode)
        prices = [self.get("price", it["price"]) for it in items]
        methods = [str(m) for m in as_list(params.get("payment_method_types"))] or ["card"]
        for i, method in enumerate(methods):
            if method not in ("card", "bacs_debit"):
                raise BadParam(
                    f"Invalid payment_method_types[{i}]: {method} is not simulated",
                    f"payment_method_types[{i}]",
                )
        if "bacs_debit" in methods and prices[0]["currency"] != "gbp":
            raise BadParam(
                "The payment method `bacs_debit` only supports the currency gbp.", "payment_method_types"
            )
        total = sum(p["unit_amount"] * it["quantity"] for p, it in zip(prices, items, strict=True))
        now = self.now()
        session_id = self.new_id("checkout.session")
        expires_at = as_int(params["expires_at"], "expires_at") if params.get("expires_at") else now + 86400
        session = self.put(
            {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": params.get("cancel_url") or None,
                "client_reference_id": params.get("client_reference_id") or None,
                "created": now,
                "currency": prices[0]["currency"],
                "customer": customer["id"] if customer else None,
                "customer_creation": None if customer else "if_required",
                "customer_details": None,
                "customer_email": params.get("customer_email") or None,
                "expires_at": expires_at,
                "invoice": None,
                "livemode": False,
                "locale": params.get("locale") or None,
                "metadata": as_metadata(params.get("metadata")),
                "mode": mode,
                "payment_intent": None,
                "payment_method_types": methods,
                "payment_status": "unpaid",
                "status": "open",
                "submit_type": params.get("submit_type") or None,
                "subscription": None,
                "success_url": params["success_url"],
                "ui_mode": "hosted",
                "url": f"{base_url.rstrip('/')}/checkout/{session_id}",
            }
        )
        self.hidden[session_id] = {
            "line_items": items,
            "subscription_metadata": as_metadata((params.get("subscription_data") or {}).get("metadata")),
            "payment_intent_metadata": as_metadata((params.get("payment_intent_data") or {}).get("metadata")),
            "declines": 0,
        }
        return session

    def session_line_items(self, session_id: str) -> dict[str, Any]:
        session = self.get("checkout.session", session_id)
        data = []
        for i, item in enumerate(self.hidden.get(session_id, {}).get("line_items", [])):
            price = self.get("price", item["price"])
            product = self.objects.get(price["product"], {})
            amount = price["unit_amount"] * item["quantity"]
            data.append(
                {
                    "id": f"li_{session_id[-20:]}{i}",
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": price["currency"],
                    "description": product.get("name") or "Item",
                    "price": copy.deepcopy(price),
                    "quantity": item["quantity"],
                }
            )
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session['id']}/line_items",
        }

    def includable(self, node: dict[str, Any], key: str) -> Any:
        kind, object_id = node.get("object"), node.get("id", "")
        if kind == "checkout.session" and key == "line_items":
            return self.session_line_items(object_id)
        if kind == "invoice" and key == "payments":
            rows = self.find("invoice_payment", invoice=object_id)
            return {
                "object": "list",
                "data": rows,
                "has_more": False,
                "url": f"/v1/invoice_payments?invoice={object_id}",
            }
        if kind == "charge" and key == "refunds":
            rows = self.find("refund", charge=object_id)
            return {
                "object": "list",
                "data": rows,
                "has_more": False,
                "url": f"/v1/charges/{object_id}/refunds",
            }
        return None

    def create_portal_session(self, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        _check_params(params, {"customer", "return_url", "configuration", "locale", "flow_data", "expand"})
        try:
            self.get("customer", params.get("customer"))
        except NotFound:
            raise BadParam(f"No such customer: '{params.get('customer')}'", "customer") from None
        portal_id = self.new_id("billing_portal.session")
        return self.put(
            {
                "id": portal_id,
                "object": "billing_portal.session",
                "configuration": "bpc_sandbox",
                "created": self.now(),
                "customer": params["customer"],
                "flow": None,
                "livemode": False,
                "locale": None,
                "on_behalf_of": None,
                "return_url": params.get("return_url") or None,
                "url": f"{base_url.rstrip('/')}/portal/{portal_id}",
            }
        )
