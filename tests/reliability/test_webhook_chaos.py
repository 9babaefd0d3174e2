"""The webhook chaos test: members join and renew through the Stripe sandbox while its deliveries
are duplicated (up to 3x), shuffled, partly refused (bad signature) and about one in ten made to
fail inside the handler after some writes, then redelivered as Stripe does. At the end the
database equals what Stripe holds, and every event was applied by exactly one delivery.

On PostgreSQL every delivery goes to two app processes at once (two real gunicorn processes with
the deployment's gunicorn.conf.py, sharing the test database, released together by a barrier), so
each event is raced by two processes; on SQLite (one writer at a time, one app process in a real
deployment) the deliveries go to one in-process app.

`make test` runs it with 16 members (every kind of event, each duplicated, shuffled and about one
delivery in ten failing: the same property as at any size); `make soak` with CRM_CHAOS_MEMBERS
(default 300, as issue 7 asks).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config import SANDBOX_WEBHOOK_SECRET
from crm.billing import webhook
from crm.billing.models import Payment, Refund
from crm.email.models import OutboxMessage
from crm.extensions import db
from crm.memberships.models import Membership
from devtools.stripe_sandbox.webhooks import event_payload
from tests.reliability.conftest import (
    AppProcess,
    app_environment,
    is_postgres,
    join_and_pay,
    running,
    start_gunicorn,
    wait_until_healthy,
)
from tests.stripe_fixtures import WEBHOOK_PATH, post_event, signed_headers

pytestmark = pytest.mark.slow

SIZES = [
    pytest.param(16, id="16"),
    pytest.param(int(os.environ.get("CRM_CHAOS_MEMBERS", "300")), id="soak", marks=pytest.mark.soak),
]
FAIL_ONE_IN = 10
#: The events the production endpoint subscribes to (README, "Deploying", step 5): Stripe sends
#: no others, so the sandbox's other events (charge.succeeded, customer.created...) are not sent.
SUBSCRIBED = frozenset(webhook.HANDLERS)
FORGED = {"Stripe-Signature": "t=1,v1=forged", "Content-Type": "application/json"}


@pytest.fixture
def app_config() -> dict[str, object]:
    # The outbox rows are what this test checks; sending them is tests/email's business.
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAIL_SEND_AFTER_COMMIT": False}


class InjectedFault(RuntimeError):
    pass


def inject_faults(
    set_handler: Callable[[str, Any], None], rng: random.Random, record: Callable[[str], None]
) -> None:
    """About one delivery in ten fails inside its handler after the handler's writes were flushed."""
    lock = threading.Lock()

    def wrap(handler):  # type: ignore[no-untyped-def]
        def failing(event: Any) -> str:
            result = handler(event)
            db.session.flush()
            with lock:
                fail = rng.randrange(FAIL_ONE_IN) == 0
            if fail:
                record(str(event["id"] if isinstance(event, dict) else event.id))
                raise InjectedFault("injected fault after the handler's writes")
            return result

        return failing

    for event_type, handler in list(webhook.HANDLERS.items()):
        set_handler(event_type, wrap(handler))


@pytest.fixture
def faulty_handlers(monkeypatch):  # type: ignore[no-untyped-def]
    """Faults in this process's handlers (the in-process app); returns the ids that failed."""
    injected: Counter = Counter()

    def record(event_id: str) -> None:
        injected[event_id] += 1

    inject_faults(lambda kind, h: monkeypatch.setitem(webhook.HANDLERS, kind, h), random.Random(7), record)
    return injected


def faulty_app():  # type: ignore[no-untyped-def]
    """One chaos app process: `gunicorn -c gunicorn.conf.py "tests.reliability.test_webhook_chaos:faulty_app()"`.
    The deployed app with the same faults as in-process, each logged to CRM_CHAOS_FAULT_LOG."""
    from crm import create_app

    app = create_app()
    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    log = Path(os.environ["CRM_CHAOS_FAULT_LOG"])

    def record(event_id: str) -> None:
        with log.open("a") as file:
            file.write(event_id + "\n")

    inject_faults(
        webhook.HANDLERS.__setitem__, random.Random(int(os.environ["CRM_CHAOS_FAULT_SEED"])), record
    )
    return app


# --- delivering --------------------------------------------------------------------------------------


def _result(status: int, body: bytes) -> str:
    try:
        return str(json.loads(body).get("result", "")) if status == 200 else ""
    except ValueError:
        return ""


def _deliver_in_process(app, deliveries: list[dict]) -> list[list[tuple[int, str]]]:  # type: ignore[no-untyped-def]
    client = app.test_client()
    outcomes = []
    for event in deliveries:
        if event.get("_forged"):
            response = client.post(WEBHOOK_PATH, data=event_payload(event), headers=FORGED)
        else:
            response = post_event(client, event)
        outcomes.append([(response.status_code, _result(response.status_code, response.get_data()))])
    return outcomes


class _Connection:
    """A kept-alive HTTP connection to one app process (reopened if the server closed it idle)."""

    def __init__(self, url: str) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(self.host, int(self.port), timeout=60)

    def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        for attempt in range(2):
            try:
                self.connection.request("POST", WEBHOOK_PATH, body=body.encode(), headers=headers)
                response = self.connection.getresponse()
                return response.status, _result(response.status, response.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _deliver_to_processes(apps: list[AppProcess], deliveries: list[dict]) -> list[list[tuple[int, str]]]:
    """Each delivery to every process at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(apps))
    outcomes: list[list[tuple[int, str]]] = [[] for _ in deliveries]
    errors: list[BaseException] = []

    def run(app: AppProcess) -> None:
        connection = _Connection(app.url)
        try:
            for n, event in enumerate(deliveries):
                body = event_payload(event)
                headers = FORGED if event.get("_forged") else signed_headers(body, SANDBOX_WEBHOOK_SECRET)
                barrier.wait(timeout=120)
                outcomes[n].append(connection.post(body, headers))
        except BaseException as error:  # noqa: BLE001  (reported by the main thread)
            errors.append(error)
            barrier.abort()
        finally:
            connection.connection.close()

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=280)
    assert not errors, errors[0]
    assert not any(thread.is_alive() for thread in threads), "a delivery thread hung"
    return outcomes


def _deliver_until_done(
    deliver: Callable[[list[dict]], list], deliveries: list[dict]
) -> tuple[Counter, Counter]:
    """Send every delivery; one that got a 500 anywhere is redelivered later (Stripe retries).
    Returns the status counts and, per event id, how many deliveries applied it (not 'duplicate')."""
    statuses: Counter = Counter()
    applied: Counter = Counter()
    queue = list(deliveries)
    rounds = 0
    while queue and rounds < 50:
        rounds += 1
        retry = []
        for event, outcomes in zip(queue, deliver(queue), strict=True):
            for status, result in outcomes:
                statuses[status] += 1
                if status == 200 and result != "duplicate":
                    applied[event["id"]] += 1
            if any(status >= 500 for status, _ in outcomes):
                retry.append(event)
        queue = retry
    assert not queue, f"still failing after {rounds} rounds"
    return statuses, applied


# --- the test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("members", SIZES)
def test_database_equals_stripe_after_duplicated_shuffled_failing_deliveries(
    app, plans, stripe_sandbox, stripe_sandbox_server, faulty_handlers, tmp_path, members
):
    rng = random.Random(2026)  # noqa: S311  (test schedule)
    processes: list[AppProcess] = []
    if is_postgres():  # started now: they boot while the members join
        env = app_environment(
            app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, STRIPE_API_BASE=stripe_sandbox_server.url
        )
        for name in ("A", "B"):
            (tmp_path / f"faults-{name}").touch()
        processes = [
            start_gunicorn(
                name,
                {
                    **env,
                    "CRM_CHAOS_FAULT_LOG": str(tmp_path / f"faults-{name}"),
                    "CRM_CHAOS_FAULT_SEED": seed,
                },
                tmp_path,
                app="tests.reliability.test_webhook_chaos:faulty_app()",
            )
            for name, seed in (("A", "7"), ("B", "8"))
        ]
    with running(processes):
        client = app.test_client()
        ids = []
        for n in range(members):
            plan = "monthly" if n % 3 == 0 else "standard-yearly"
            ids.append(join_and_pay(client, plans, stripe_sandbox, f"chaos{n}@example.org", plan)[0])
        events = stripe_sandbox.take_events()
        # Renewals, a few failed renewals and refunds, all before any webhook arrives.
        subs = [s["id"] for s in stripe_sandbox.find("subscription")]
        for sub_id in subs[: members // 2]:
            stripe_sandbox.renew(sub_id)
        for sub_id in subs[members // 2 : members // 2 + members // 10]:
            stripe_sandbox.set_cancel_at_period_end(sub_id, True)
            stripe_sandbox.renew(sub_id)  # ends the subscription
        charges = stripe_sandbox.find("charge")
        for charge in charges[:: max(1, len(charges) // 8)]:
            stripe_sandbox.refund(charge["id"], charge["amount"] // 3)
        events = [e for e in events + stripe_sandbox.take_events() if e["type"] in SUBSCRIBED]

        deliveries = [e for e in events for _ in range(rng.randint(1, 3))]
        deliveries += [dict(e, _forged=True) for e in rng.sample(events, 5)]
        rng.shuffle(deliveries)
        if processes:
            wait_until_healthy(processes)
            statuses, applied = _deliver_until_done(
                lambda queue: _deliver_to_processes(processes, queue), deliveries
            )
            injected = Counter(
                line for p in processes for line in (tmp_path / f"faults-{p.name}").read_text().split()
            )
        else:
            statuses, applied = _deliver_until_done(lambda queue: _deliver_in_process(app, queue), deliveries)
            injected = faulty_handlers

    copies = len(processes) or 1
    assert set(statuses) <= {200, 400, 500}, statuses
    assert statuses[400] == 5 * copies  # every forged delivery refused, by every process
    assert sum(injected.values()) >= 1 and statuses[500] >= sum(injected.values()), (statuses, injected)
    assert applied == Counter(e["id"] for e in events), "an event was applied twice, or never"
    _assert_database_equals_sandbox(stripe_sandbox, ids)


def _assert_database_equals_sandbox(sandbox, ids: list[int]) -> None:  # type: ignore[no-untyped-def]
    from crm.billing import stripe_gateway as gateway

    db.session.commit()
    memberships = db.session.scalars(select(Membership).where(Membership.id.in_(ids))).all()
    by_sub = Counter(m.stripe_subscription_id for m in memberships)
    assert all(n == 1 for n in by_sub.values()) and len(memberships) == len(ids)
    for membership in memberships:
        sub = sandbox.object(membership.stripe_subscription_id)
        expected = {"active": "active", "canceled": "lapsed"}[sub["status"]]
        assert membership.status == expected, (membership.id, sub["status"], membership.status)
        if sub["status"] == "active":
            assert membership.paid_through == gateway.subscription_period(sub)[1], membership.id
    paid_invoices = {i["id"] for i in sandbox.find("invoice") if i["status"] == "paid"}
    payments = db.session.scalars(select(Payment).where(Payment.status != "failed")).all()
    assert sorted(p.stripe_invoice_id for p in payments) == sorted(paid_invoices)  # one each, none twice
    charges = {c["id"]: c for c in sandbox.find("charge")}
    intents = {c["payment_intent"]: c for c in charges.values()}
    for payment in payments:
        charge = charges.get(payment.stripe_charge_id) or intents[payment.stripe_payment_intent_id]
        assert payment.amount == charge["amount"] and payment.amount_refunded == charge["amount_refunded"]
    stripe_refunds = sorted(r["id"] for r in sandbox.find("refund"))
    assert sorted(db.session.scalars(select(Refund.stripe_refund_id))) == stripe_refunds
    receipts = db.session.scalars(
        select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "receipt")
    ).all()
    assert len(receipts) == len(payments)
    keys = [k for k in db.session.scalars(select(OutboxMessage.dedupe_key)) if k]
    assert len(keys) == len(set(keys))
    welcomes = Counter(
        db.session.scalars(select(OutboxMessage.to_email).where(OutboxMessage.kind == "welcome"))
    )
    assert all(n == 1 for n in welcomes.values()) and len(welcomes) == len(ids)
