"""6. Stripe webhook intake under gunicorn: members join through the real /join form (in-process,
against the Stripe sandbox), pay in the sandbox, and the events Stripe would send are then POSTed,
signed with the sandbox secret, each one twice and in a shuffled order, over concurrent
connections to POST /stripe/webhook (signature check, dedupe, processing, Stripe calls to the
sandbox). Deliveries/s against hello in the same run; then every effect is counted once."""

from __future__ import annotations

import os
import random

from sqlalchemy import func, select

from bench import loadgen, wrk
from bench.ceiling import loadgen_ceiling
from bench.common import Result, log, stopwatch
from bench.context import Context, hello_load, median_rps
from bench.datasets import make_app

NAME = "webhook"
TARGET = 0.05
SECRET_KEY = "sk_test_sandbox"  # noqa: S105  (the local sandbox's fake keys)
WEBHOOK_SECRET = "whsec_sandbox"  # noqa: S105


def run(ctx: Context) -> list[Result]:
    try:
        from devtools.stripe_sandbox.server import serve_in_thread
        from devtools.stripe_sandbox.webhooks import event_payload, signature_header
    except ImportError as error:
        return [Result(NAME, "-", "-", "-", note=f"n/a: no Stripe sandbox ({error})")]
    server = serve_in_thread(port=0, delivery="manual", webhook_secret=WEBHOOK_SECRET, secret_key=SECRET_KEY)
    try:
        return [
            run_backend(ctx, backend, server, event_payload, signature_header) for backend in ctx.backends()
        ]
    finally:
        server.stop()


def _join_members(url: str, sandbox_url: str, sandbox, count: int) -> None:  # type: ignore[no-untyped-def]
    from crm.extensions import db
    from crm.memberships.models import Membership, Plan

    app = make_app(url, STRIPE_API_BASE=sandbox_url, STRIPE_SECRET_KEY=SECRET_KEY, WTF_CSRF_ENABLED=False,
                   RATELIMIT_ENABLED=False)  # fmt: skip
    with app.app_context():
        plan_id = db.session.scalar(select(Plan.id).where(Plan.slug == "standard-yearly"))
        client = app.test_client()
        for i in range(count):
            response = client.post("/join", data={
                "title": "Ms", "first_name": "Webhook", "last_name": f"Member{i}", "email": f"hook{i}@bench.example.net",
                "address_line1": "1 High Street", "town": "London", "postcode": "N1 9GU", "country": "GB",
                "plan": str(plan_id),
            })  # fmt: skip
            if response.status_code not in (302, 303):
                raise RuntimeError(f"/join answered {response.status_code}")
            membership = db.session.scalar(select(Membership).order_by(Membership.id.desc()))
            sandbox.pay(membership.stripe_checkout_session_id)
        db.session.remove()
        db.engine.dispose()


#: BENCH_REDIS_URL to use another (on a shared machine, a Redis of one's own).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def _private_redis() -> str | None:
    """A private Redis database for the app's job queue, emptied first; None without Redis."""
    return REDIS_URL if _flush(REDIS_URL) else None


def _flush(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
        return True
    except Exception:  # noqa: BLE001  (no Redis: the app runs its jobs inline)
        return False


def _effects(url: str) -> dict[str, int]:
    from crm.billing.models import Payment, ProcessedStripeEvent
    from crm.email.models import OutboxMessage
    from crm.extensions import db
    from crm.memberships.models import Membership

    app = make_app(url)
    with app.app_context():

        def count(model, *where):  # type: ignore[no-untyped-def]
            return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        out = {
            "active memberships": count(Membership, Membership.status == "active", Membership.stripe_subscription_id.is_not(None)),
            "payments": count(Payment, Payment.stripe_invoice_id.is_not(None)),
            "receipts": count(OutboxMessage, OutboxMessage.kind == "receipt"),
            "events recorded": count(ProcessedStripeEvent),
        }  # fmt: skip
        db.session.remove()
        db.engine.dispose()
    return out


def run_backend(ctx: Context, backend: str, server, event_payload, signature_header) -> Result:  # type: ignore[no-untyped-def]
    opts = ctx.options
    members = opts.webhook_members
    url = ctx.data.schema(backend, "webhook")
    server.sandbox.reset()
    # The data set's own receipts (the demo's offline payments) are there before anyone joins.
    receipts_before = _effects(url)["receipts"]
    with stopwatch() as took:
        _join_members(url, server.url, server.sandbox, members)
    events = server.sandbox.take_events()
    log(f"{members} members joined and paid in {took():.1f}s: {len(events)} events to deliver (each twice)")
    env = {
        "STRIPE_API_BASE": server.url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    redis_url = _private_redis()
    if redis_url:
        # As deployed (README, "Deploying" step 3): the receipt is an RQ job for a worker on another
        # machine, not sent inside the webhook request. No worker runs here; the receipts are
        # counted in the outbox afterwards.
        env["REDIS_URL"] = redis_url
    log(f"webhook app: jobs {'queued in ' + redis_url if redis_url else 'run inline (no Redis)'}")
    with ctx.hello_server() as hello, ctx.app_server(url, env=env) as app:
        deliveries = events + events
        random.Random(6).shuffle(deliveries)
        base = loadgen.request_bytes("GET", "/", hello.port)
        hello_loads = [hello_load(hello.port, base, opts) for _ in range(2)]
        requests = []
        for event in deliveries:  # signed just before sending (the signature has a 5-minute tolerance)
            body = event_payload(event).encode()
            requests.append(loadgen.request_bytes("POST", "/stripe/webhook", app.port, body=body, headers={
                "Content-Type": "application/json", "Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}))  # fmt: skip
        if wrk.available():  # each delivery sent once, by wrk (issue 25 item 5)
            hook = wrk.run_each_once(app.port, requests, connections=opts.connections, timeout=280)
        else:
            log("warning: wrk is missing (make bench installs it): the Python generator drives this row")
            hook = loadgen.run(
                app.port, requests, connections=opts.connections, max_requests=len(requests), seconds=280
            )
        hello_loads += [hello_load(hello.port, base, opts) for _ in range(2)]
    # Without wrk, the generator's own ceiling (same settings, a canned answer) is in the figures.
    ceiling = {} if wrk.available() else loadgen_ceiling(opts)
    log(f"webhook: {hook.requests} deliveries in {hook.seconds:.1f}s, statuses {dict(hook.statuses)}; "
        f"hello rps {[round(x.rps) for x in hello_loads]}")  # fmt: skip
    effects = _effects(url)
    ctx.data.drop(url)
    if redis_url:
        _flush(redis_url)
    expected = {"active memberships": members, "payments": members, "receipts": receipts_before + members,
                "events recorded": len({e["id"] for e in events})}  # fmt: skip
    wrong = {k: f"{effects[k]} (expected {v})" for k, v in expected.items() if effects[k] != v}
    hello_rps = median_rps(hello_loads)
    if ceiling:
        ceiling["ceiling ÷ hello"] = (
            ceiling["loadgen ceiling req/s (canned answer)"] / hello_rps if hello_rps else 0.0
        )
    ratio = hook.rps / hello_rps if hello_rps else 0.0
    complete = hook.requests == len(requests) and hook.errors == 0 and not wrong
    note = "" if complete else f"{hook.errors} errors, {len(requests) - hook.requests} unsent, wrong: {wrong}"
    return Result(
        NAME,
        backend,
        "webhook deliveries/s ÷ hello req/s",
        f"≥ {TARGET}; no lost or doubled effect",
        ratio,
        ratio >= TARGET and complete,
        note=note,
        figures={
            "deliveries/s": hook.rps,
            "hello req/s": hello_rps,
            "events": len(events),
            "deliveries": len(requests),
            "p50 ms": hook.percentile(50) * 1000,
            "driver": "wrk (each delivery once)" if wrk.available() else "loadgen",
            **ceiling,
            "jobs": "RQ (Redis)" if redis_url else "inline",
            **{k: v for k, v in effects.items()},
        },  # fmt: skip
    )
