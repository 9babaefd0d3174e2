"""The hosted pages a supporter sees: Checkout (Pay / Decline) and the customer portal.

Plain HTML, no scripts, no external assets; every value is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from devtools.stripe_sandbox.sandbox import Conflict, Sandbox
from devtools.stripe_sandbox.store import NotFound

STYLESHEET = """
body{font-family:system-ui,sans-serif;background:#f6f8fa;color:#1a1f36;margin:0}
main{max-width:32rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
.badge{display:inline-block;background:#ffde92;color:#5c3b00;padding:.1rem .5rem;border-radius:4px;
font-size:.8rem}
.total{font-size:1.6rem;font-weight:600}
.error{background:#fde8e8;color:#8a1c1c;padding:.75rem;border-radius:4px}
.notice{background:#e6f4ea;color:#1e4620;padding:.75rem;border-radius:4px}
form{display:inline}
button{font-size:1rem;padding:.6rem 1.4rem;margin:.4rem .4rem .4rem 0;border-radius:4px;border:1px solid #635bff;
background:#635bff;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#635bff}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.amount{text-align:right}
"""


def money(amount: int, currency: str) -> str:
    symbol = {"gbp": "£", "eur": "€", "usd": "$"}.get(currency.lower())
    value = f"{amount / 100:,.2f}"
    return f"{symbol}{value}" if symbol else f"{value} {currency.upper()}"


def _date(ts: int | None) -> str:
    moment = datetime.fromtimestamp(int(ts or 0), tz=UTC)
    return f"{moment.day} {moment:%B %Y}"


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/_sandbox/static/sandbox.css"></head>'
        f'<body><main><p><span class="badge">Stripe sandbox: test mode, no real money</span></p>{body}'
        "</main></body></html>"
    )
    return Response(html, status=status, mimetype="text/html")


def _redirect(url: str) -> Response:
    response = Response("", status=303)
    response.headers["Location"] = url
    return response


def handle(sandbox: Sandbox, request: Request, endpoint: str, args: dict[str, str]) -> Response:
    if endpoint == "stylesheet":
        return Response(STYLESHEET, mimetype="text/css")
    if endpoint == "index":
        return _page(
            "Stripe sandbox", "<h1>Stripe sandbox</h1><p>A local stand-in for Stripe's API (/v1).</p>"
        )
    try:
        if endpoint == "page_checkout":
            return checkout_page(sandbox, args["object_id"], declined=request.args.get("declined") == "1")
        if endpoint == "page_checkout_action":
            return checkout_action(sandbox, args["object_id"], args["action"])
        if endpoint == "page_portal":
            return portal_page(sandbox, args["object_id"], request.args.get("done", ""))
        return portal_action(sandbox, args["object_id"], args["action"], request.form.get("subscription", ""))
    except NotFound:
        return _page("Not found", "<h1>This page does not exist</h1><p>The link may be out of date.</p>", 404)


# --- checkout ----------------------------------------------------------------------------------


def _success_url(session: dict[str, Any]) -> str:
    return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])


def checkout_page(sandbox: Sandbox, session_id: str, *, declined: bool = False) -> Response:
    with sandbox.lock:
        session = sandbox.get("checkout.session", session_id)
        if session["status"] == "open" and session["expires_at"] <= sandbox.now():
            sandbox.expire(session_id)
        customer = sandbox.objects.get(session["customer"] or "", {})
        items = sandbox.session_line_items(session_id)["data"]
        session = dict(session)
    email = customer.get("email") or session.get("customer_email") or ""
    back = session.get("cancel_url")
    back_link = f'<p><a href="{escape(back)}">Back</a></p>' if back else ""
    if session["status"] == "complete":
        return _page(
            "Payment complete",
            f'<h1>Payment complete</h1><p><a href="{escape(_success_url(session))}">Continue</a></p>',
        )
    if session["status"] == "expired":
        return _page("Checkout expired", f"<h1>This checkout has expired</h1>{back_link}", 410)
    rows = []
    for item in items:
        recurring = item["price"].get("recurring")
        suffix = f" per {recurring['interval']}" if recurring else ""
        rows.append(
            f"<tr><td>{escape(item['description'])} × {item['quantity']}</td>"
            f'<td class="amount">{escape(money(item["amount_total"], item["currency"]) + suffix)}</td></tr>'
        )
    error = (
        '<p class="error" role="alert">Your card was declined. Try again, or use another card.</p>'
        if declined
        else ""
    )
    body = (
        f"<h1>Checkout</h1>{error}"
        f"<p>Paying as <strong>{escape(email)}</strong></p>"
        f"<table>{''.join(rows)}</table>"
        f'<p>Total due today</p><p class="total">{escape(money(session["amount_total"], session["currency"]))}</p>'
        f"<p>Card: 4242 4242 4242 4242 (sandbox)</p>"
        f'<form method="post" action="/checkout/{escape(session_id)}/pay"><button type="submit">Pay</button></form>'
        + (
            f'<form method="post" action="/checkout/{escape(session_id)}/pay_by_direct_debit">'
            f'<button type="submit">Pay by Direct Debit</button></form>'
            f"<p>Direct Debit: sort code 10-88-00, account 00012345 (sandbox); the first collection "
            f"settles later (POST /_sandbox/settle_direct_debit).</p>"
            if "bacs_debit" in session.get("payment_method_types", [])
            else ""
        )
        + f'<form method="post" action="/checkout/{escape(session_id)}/decline">'
        f'<button type="submit" class="secondary">Decline</button></form>{back_link}'
    )
    return _page("Checkout", body)


def checkout_action(sandbox: Sandbox, session_id: str, action: str) -> Response:
    try:
        if action == "pay":
            session = sandbox.pay(session_id)
            return _redirect(_success_url(session))
        if action == "pay_by_direct_debit":
            return _redirect(_success_url(sandbox.pay_by_direct_debit(session_id)))
        sandbox.decline(session_id)
        return _redirect(f"/checkout/{session_id}?declined=1")
    except Conflict:
        return checkout_page(sandbox, session_id)


# --- customer portal ---------------------------------------------------------------------------

DONE_MESSAGES = {
    "cancel": "Your subscription will end at the end of the current period.",
    "resume": "Your subscription will renew as usual.",
    "card": "Your card has been updated (sandbox: Visa ending 4242).",
}


def portal_page(sandbox: Sandbox, portal_id: str, done: str = "") -> Response:
    with sandbox.lock:
        portal = sandbox.get("billing_portal.session", portal_id)
        customer = sandbox.get("customer", portal["customer"])
        subs = [s for s in sandbox.find("subscription", customer=customer["id"]) if s["status"] != "canceled"]
        products = {s["id"]: sandbox.objects.get(s["items"]["data"][0]["price"]["product"], {}) for s in subs}
    notice = (
        f'<p class="notice" role="status">{escape(DONE_MESSAGES[done])}</p>' if done in DONE_MESSAGES else ""
    )
    blocks = []
    for sub in subs:
        item = sub["items"]["data"][0]
        price = item["price"]
        name = products[sub["id"]].get("name") or "Subscription"
        interval = price["recurring"]["interval"]
        if sub["cancel_at_period_end"]:
            when = f"Ends on {_date(item['current_period_end'])}"
            button = _portal_button(portal_id, "resume", sub["id"], "Resume")
        else:
            when = f"Renews on {_date(item['current_period_end'])}"
            button = _portal_button(portal_id, "cancel", sub["id"], "Cancel subscription at period end")
        status = " (payment overdue)" if sub["status"] == "past_due" else ""
        blocks.append(
            f"<section><h2>{escape(name)}</h2>"
            f"<p>{escape(money(price['unit_amount'], price['currency']))} per {escape(interval)}{status}</p>"
            f"<p>{escape(when)}</p>{button}"
            f"{_portal_button(portal_id, 'card', sub['id'], 'Update card', 'secondary')}</section>"
        )
    if not blocks:
        blocks.append("<p>You have no active subscriptions.</p>")
    back = portal.get("return_url")
    back_link = f'<p><a href="{escape(back)}">Return to the site</a></p>' if back else ""
    body = (
        f"<h1>Manage your subscription</h1>{notice}<p>Signed in as <strong>{escape(customer.get('email') or '')}"
        f"</strong></p>{''.join(blocks)}{back_link}"
    )
    return _page("Customer portal", body)


def _portal_button(portal_id: str, action: str, sub_id: str, label: str, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return (
        f'<form method="post" action="/portal/{escape(portal_id)}/{action}">'
        f'<input type="hidden" name="subscription" value="{escape(sub_id)}">'
        f'<button type="submit"{klass}>{escape(label)}</button></form>'
    )


def portal_action(sandbox: Sandbox, portal_id: str, action: str, sub_id: str) -> Response:
    with sandbox.lock:
        portal = sandbox.get("billing_portal.session", portal_id)
        sub = sandbox.get("subscription", sub_id)
        if sub["customer"] != portal["customer"]:
            raise NotFound("subscription", sub_id)
        if action in ("cancel", "resume"):
            wanted = action == "cancel"
            if sub["status"] != "canceled" and sub["cancel_at_period_end"] != wanted:
                sandbox.set_cancel_at_period_end(sub_id, wanted)
    return _redirect(f"/portal/{portal_id}?{urlencode({'done': action})}")
