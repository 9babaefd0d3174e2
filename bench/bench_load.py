"""9. Load test (issue 7, "A load that it holds"): 50 concurrent simulated users for a bounded time
(120 s; `--quick` 20 s) against the app under gunicorn with the deployment settings
(gunicorn.conf.py) on a copy of the seeded database, while the Stripe sandbox, in a thread of this
process, delivers its webhooks to the app as Stripe would (delivery="auto", signed, retried).

The users, each with a think time between pages, do a mix:
- visitors: the home page, then the /join form;
- joiners: GET /join, POST /join with a valid form and the CSRF token from the page (303 to the
  sandbox checkout), GET the sandbox checkout page, POST Pay there (303 back), GET /join/success;
  every join is a new person (new email, new cookie jar, new client address). In turn (JOINS): a
  card join, a card join with a £10 donation, and a join by Direct Debit with a £10 donation
  ("Pay by Direct Debit" on the sandbox page), whose collection the bank settles after the run;
- members: GET /login, POST /login with a demo member (crm.demo.DEMO_PASSWORD), read /news and
  posts a few times, sign out (POST /logout with the page's CSRF token), and again.

Rate limits stay ON: the app runs with PROXY_COUNT=1 (as deployed behind one reverse proxy) and
each simulated user sends its own X-Forwarded-For address, so the per-address limits apply per
user as they would in production. Successful sign-ins do not count against the per-account limit.

Reported: requests/s, p50/p95/p99 per request type and overall (app requests; the sandbox's own
pages are listed apart), errors (a status other than the one expected for that request, or no
answer), webhook deliveries the app refused, and then the database: every paid checkout gave
exactly one active membership, one membership payment and its donation payment if it had one,
the totals of memberships, membership payments, donation payments and payments recorded as Direct
Debit equal what the sandbox holds (paid sessions, their membership lines, their donation lines,
the Bacs charges among them), every event recorded once."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from sqlalchemy import select

from bench.common import Result, log, percentile
from bench.context import Context
from bench.datasets import make_app
from bench.loadgen import Connection, request_bytes

NAME = "load"
SECRET_KEY = "sk_test_sandbox"  # noqa: S105  (the local sandbox's fake keys)
WEBHOOK_SECRET = "whsec_sandbox"  # noqa: S105
USERS = 50
SECONDS, QUICK_SECONDS = 120.0, 20.0
#: Share of the users in each role (visitors, joiners, members).
MIX = {"visitor": 0.4, "joiner": 0.2, "member": 0.4}
#: Seconds a user pauses between pages (uniform), as a person reading would.
THINK = (0.25, 1.25)
#: Posts a member reads per visit before signing out.
READS_PER_VISIT = 4
PROCESSES = 2  #: client processes (the client's GIL must not be what is measured)
DRAIN_SECONDS = 180.0  #: at most this long to wait for the webhooks still queued after the run
#: The statuses each request type should answer; anything else is an error.
EXPECT: dict[str, tuple[int, ...]] = {
    "home": (200,), "join form": (200,), "join submit": (303,), "join success": (200,),
    "login form": (200,), "sign in": (302, 303), "news": (200,), "post": (200,), "sign out": (302, 303),
    "sandbox checkout": (200,), "sandbox pay": (303,), "sandbox pay by direct debit": (303,),
}  # fmt: skip
SANDBOX_TYPES = ("sandbox checkout", "sandbox pay", "sandbox pay by direct debit")
#: The joins a joiner makes, in turn: (how it is paid, the donation in pounds).
JOINS = (("card", ""), ("card", "10"), ("direct debit", "10"))
MEMBER_EMAILS = ("member@example.org", "monthly@example.org", "concession@example.org", "life@example.org",
                 "branch@example.org", "grace@example.org")  # fmt: skip

_TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')
_PLAN = re.compile(rb'name="plan"[^>]*value="([0-9]+)"|value="([0-9]+)"[^>]*name="plan"')
_POST_LINK = re.compile(rb'href="(/news/[a-z0-9][a-z0-9-]*)"')


def seconds(ctx: Context) -> float:
    override = os.environ.get("BENCH_LOAD_SECONDS")
    return float(override) if override else (QUICK_SECONDS if ctx.options.quick else SECONDS)


# --- one simulated user -------------------------------------------------------------------------


@dataclass
class Record:
    kind: str
    status: int  #: 0 when no answer came
    latency: float  #: seconds
    at: float  #: seconds since the start


@dataclass
class Outcome:
    """What one client process saw."""

    records: list[Record] = field(default_factory=list)
    #: (email, checkout session id, "card" or "direct debit", donation in pence)
    paid: list[tuple[str, str, str, int]] = field(default_factory=list)
    joins_started: int = 0
    confirmed_on_page: int = 0  #: success pages that already said "Welcome, you are a member"
    problems: list[str] = field(default_factory=list)  #: the first few, for the log
    cpu_seconds: float = 0.0  #: the client processes' own CPU time (every thread)


class User:
    def __init__(self, app_port: int, sandbox_port: int, started: float, deadline: float, ident: str,
                 rng: random.Random, out: Outcome, lock: threading.Lock) -> None:  # fmt: skip
        self.app_port, self.sandbox_port = app_port, sandbox_port
        self.started, self.deadline = started, deadline
        self.ident, self.rng, self.out, self.lock = ident, rng, out, lock
        self.app = Connection("127.0.0.1", app_port)
        self.sandbox = Connection("127.0.0.1", sandbox_port)
        self.jar: dict[str, str] = {}
        self.address = self.new_address()

    # -- plumbing --

    def new_address(self) -> str:
        return f"10.{self.rng.randrange(1, 255)}.{self.rng.randrange(0, 256)}.{self.rng.randrange(1, 255)}"

    def fresh_identity(self) -> None:
        """A different person: no cookies, another client address, a new connection."""
        self.jar = {}
        self.address = self.new_address()
        self.app.close()

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.out.problems) < 20:
                self.out.problems.append(f"{self.ident}: {text}")

    def think(self) -> None:
        pause = self.rng.uniform(*THINK)
        time.sleep(max(0.0, min(pause, self.deadline - time.perf_counter())))

    def call(self, kind: str, method: str, path: str, *, form: dict[str, str] | None = None,
             sandbox: bool = False) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        port = self.sandbox_port if sandbox else self.app_port
        headers = {"X-Forwarded-For": self.address}
        if self.jar and not sandbox:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        raw = request_bytes(method, path, port, headers=headers, body=body)
        conn = self.sandbox if sandbox else self.app
        began = time.perf_counter()
        try:
            status, answer_headers, answer = conn.request(raw, keep_body=True)
        except (OSError, ValueError) as error:
            conn.close()
            self.record(kind, 0, time.perf_counter() - began)
            self.problem(f"{kind} {method} {path}: no answer ({type(error).__name__}: {error})")
            return 0, {}, b""
        self.record(kind, status, time.perf_counter() - began)
        if status not in EXPECT[kind]:
            self.problem(f"{kind} {method} {path}: {status}")
        if not sandbox:
            self.keep_cookies(answer_headers)
        return status, answer_headers, answer  # type: ignore[return-value]

    def record(self, kind: str, status: int, latency: float) -> None:
        with self.lock:
            self.out.records.append(Record(kind, status, latency, time.perf_counter() - self.started))

    def keep_cookies(self, headers: dict[str, str]) -> None:
        for line in headers.get("set-cookie", "").split("\n"):
            name, _, rest = line.partition("=")
            name = name.strip()
            if not name:
                continue
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in line.lower() and "01 jan 1970" not in line.lower():
                self.jar[name] = value
            else:
                self.jar.pop(name, None)

    @staticmethod
    def token(body: bytes) -> str | None:
        found = _TOKEN.search(body)
        return found.group(1).decode() if found else None

    def running(self) -> bool:
        return time.perf_counter() < self.deadline

    def close(self) -> None:
        self.app.close()
        self.sandbox.close()

    # -- the roles --

    def ceiling(self) -> None:
        """No think time, one page over and over: what this client itself can do (its ceiling,
        against bench/canned.py's canned answer)."""
        while self.running():
            self.call("home", "GET", "/")

    def visitor(self) -> None:
        while self.running():
            self.call("home", "GET", "/")
            self.think()
            if not self.running():
                break
            self.call("join form", "GET", self.rng.choice(("/join", "/join?plan=standard-yearly")))
            self.think()
            if self.rng.random() < 0.2:
                self.fresh_identity()

    def joiner(self) -> None:
        number = 0
        while self.running():
            number += 1
            self.fresh_identity()
            self.join_once(number)
            self.think()

    def join_once(self, number: int) -> None:
        status, _h, page = self.call("join form", "GET", "/join")
        token = self.token(page)
        plans = [a or b for a, b in _PLAN.findall(page)]
        if status != 200 or not token or not plans:
            self.problem(f"join form without a CSRF token or plans ({status})")
            return
        self.think()
        email = f"load-{self.ident}-{number}-{uuid.uuid4().hex[:6]}@bench.example.net"
        method, donation = JOINS[number % len(JOINS)]
        with self.lock:
            self.out.joins_started += 1
        status, headers, _b = self.call("join submit", "POST", "/join", form={
            "csrf_token": token.strip(), "title": "Ms", "first_name": "Load", "last_name": f"Tester {self.ident}",
            "email": email, "address_line1": "1 High Street", "town": "London", "postcode": "N1 9GU",
            "country": "GB", "plan": plans[number % min(2, len(plans))].decode(), "donation": donation,
        })  # fmt: skip
        checkout = urlsplit(headers.get("location", ""))
        if status != 303 or checkout.port != self.sandbox_port or not checkout.path.startswith("/checkout/"):
            self.problem(
                f"join submit did not go to the sandbox checkout ({status} {checkout.geturl()[:80]})"
            )
            return
        session_id = unquote(checkout.path.rsplit("/", 1)[-1])
        status, _h, page = self.call("sandbox checkout", "GET", checkout.path, sandbox=True)
        if status != 200 or b"/pay" not in page:
            return
        self.think()  # the person checks the amount and presses Pay (or Pay by Direct Debit)
        by_dd = method == "direct debit"
        status, headers, _b = self.call(
            "sandbox pay by direct debit" if by_dd else "sandbox pay", "POST",
            f"/checkout/{session_id}/{'pay_by_direct_debit' if by_dd else 'pay'}", form={}, sandbox=True,
        )  # fmt: skip
        back = urlsplit(headers.get("location", ""))
        if status != 303:
            return
        with self.lock:
            self.out.paid.append((email, session_id, method, int(donation or 0) * 100))
        if back.port != self.app_port or back.path != "/join/success":
            self.problem(f"sandbox sent the payer to {back.geturl()[:80]}")
            return
        status, _h, page = self.call("join success", "GET", f"{back.path}?{back.query}")
        if status == 200 and (b"you are a member" in page or b"Direct Debit is being set up" in page):
            with self.lock:
                self.out.confirmed_on_page += 1

    def member(self, email: str, password: str) -> None:
        while self.running():
            self.fresh_identity()
            status, _h, page = self.call("login form", "GET", "/login")
            token = self.token(page)
            if status != 200 or not token:
                self.problem(f"login form without a CSRF token ({status})")
                self.think()
                continue
            self.think()
            status, headers, _b = self.call("sign in", "POST", "/login",
                                            form={"csrf_token": token, "email": email, "password": password, "next": ""})  # fmt: skip
            if status not in (302, 303):
                self.think()
                continue
            token = None
            for _read in range(READS_PER_VISIT):
                if not self.running():
                    break
                self.think()
                status, _h, page = self.call("news", "GET", "/news")
                token = self.token(page) or token
                links = list(dict.fromkeys(_POST_LINK.findall(page)))
                if links:
                    self.think()
                    self.call("post", "GET", self.rng.choice(links).decode())
            if token:
                self.think()
                self.call("sign out", "POST", "/logout", form={"csrf_token": token})
            self.think()


def _client(app_port: int, sandbox_port: int, roles: list[tuple[str, str]], seconds_: float, seed: int,
            password: str, start_at: float) -> Outcome:  # fmt: skip
    """One client process: a thread per user; returns what they saw."""
    out, lock = Outcome(), threading.Lock()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds_
    threads = []
    for index, (role, email) in enumerate(roles):
        rng = random.Random(seed * 1000 + index)
        user = User(app_port, sandbox_port, started, deadline, f"p{seed}u{index}", rng, out, lock)

        def body(user: User = user, role: str = role, email: str = email) -> None:
            time.sleep(user.rng.uniform(0, THINK[1]))  # users arrive spread out, not all at once
            try:
                if role == "ceiling":
                    user.ceiling()
                elif role == "visitor":
                    user.visitor()
                elif role == "joiner":
                    user.joiner()
                else:
                    user.member(email, password)
            except Exception as error:  # noqa: BLE001  (a broken user is reported, not fatal)
                user.problem(f"stopped: {type(error).__name__}: {error}")
            finally:
                user.close()

        threads.append(threading.Thread(target=body, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds_ + 120)  # a join in flight finishes; socket timeouts bound the rest
    out.cpu_seconds = time.process_time() - cpu_before
    return out


def _child(conn: Any, args: tuple[Any, ...]) -> None:
    try:
        conn.send(_client(*args))
    finally:
        conn.close()


def roles_for(users: int) -> list[tuple[str, str]]:
    visitors = round(users * MIX["visitor"])
    joiners = round(users * MIX["joiner"])
    members = users - visitors - joiners
    out = [("visitor", "")] * visitors + [("joiner", "")] * joiners
    out += [("member", MEMBER_EMAILS[i % len(MEMBER_EMAILS)]) for i in range(members)]
    return out


def simulate(app_port: int, sandbox_port: int, users: int, seconds_: float,
             roles: list[tuple[str, str]] | None = None) -> Outcome:  # fmt: skip
    from crm.demo import DEMO_PASSWORD

    if roles is None:
        roles = roles_for(users)
        random.Random(9).shuffle(roles)
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 1.0
    pipes, children = [], []
    for i in range(PROCESSES):
        parent_end, child_end = ctx.Pipe(duplex=False)
        args = (app_port, sandbox_port, roles[i::PROCESSES], seconds_, i + 1, DEMO_PASSWORD, start_at)
        child = ctx.Process(target=_child, args=(child_end, args), daemon=True)
        child.start()
        child_end.close()
        pipes.append(parent_end)
        children.append(child)
    total = Outcome()
    for parent_end, child in zip(pipes, children, strict=True):
        if parent_end.poll(seconds_ + 240):
            part = parent_end.recv()
            total.records += part.records
            total.paid += part.paid
            total.joins_started += part.joins_started
            total.confirmed_on_page += part.confirmed_on_page
            total.problems += part.problems
            total.cpu_seconds += part.cpu_seconds
        else:
            total.problems.append("a client process did not finish in time")
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    return total


# --- figures ------------------------------------------------------------------------------------


def summarise(records: list[Record], wall: float) -> dict[str, dict[str, Any]]:
    """Per request type and overall: count, errors, req/s, p50/p95/p99 ms."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        groups[r.kind].append(r)
    app = [r for r in records if r.kind not in SANDBOX_TYPES]
    out: dict[str, dict[str, Any]] = {}
    for kind in [*EXPECT, "overall (app)"]:
        rows = app if kind == "overall (app)" else groups.get(kind, [])
        if not rows:
            continue
        ms = [r.latency * 1000 for r in rows]
        errors = sum(1 for r in rows if r.status not in EXPECT[r.kind])
        out[kind] = {
            "requests": len(rows), "errors": errors, "req/s": len(rows) / wall if wall else 0.0,
            "p50 ms": percentile(ms, 50), "p95 ms": percentile(ms, 95), "p99 ms": percentile(ms, 99),
            "max ms": max(ms), "statuses": dict(Counter(r.status for r in rows)),
        }  # fmt: skip
    return out


def type_table(by_type: dict[str, dict[str, Any]]) -> str:
    lines = ["| request | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | statuses |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, f in by_type.items():
        label = f"**{kind}**" if kind.startswith("overall") else kind
        statuses = ", ".join(f"{k}×{v}" for k, v in sorted(f["statuses"].items()))
        lines.append(f"| {label} | {f['requests']:,} | {f['req/s']:.1f} | {f['p50 ms']:.0f} | {f['p95 ms']:.0f} | "
                     f"{f['p99 ms']:.0f} | {f['max ms']:.0f} | {f['errors']} | {statuses} |")  # fmt: skip
    return "\n".join(lines)


def wait_for_webhooks(server: Any, timeout: float) -> dict[str, int]:
    """Until every event the sandbox emitted has been answered 2xx by the app (or `timeout`)."""
    delivery = server.sandbox.delivery
    deadline = time.monotonic() + timeout
    while True:
        emitted = {e["id"] for e in server.sandbox.events()}
        log_ = list(delivery.log)
        delivered = {
            entry["event"]
            for entry in log_
            if isinstance(entry["status"], int) and 200 <= entry["status"] < 300
        }
        if emitted <= delivered or time.monotonic() > deadline:
            refused = [
                entry
                for entry in log_
                if not (isinstance(entry["status"], int) and 200 <= entry["status"] < 300)
            ]
            return {"events": len(emitted), "delivered": len(emitted & delivered), "deliveries": len(log_),
                    "refused deliveries": len(refused),
                    "refused": [f"{e['type']} attempt {e['attempt']}: {e['status']}" for e in refused][:20]}  # fmt: skip
        time.sleep(0.5)


def settle_direct_debits(sandbox: Any, paid: list[tuple[str, str, str, int]]) -> int:
    """Days later, the bank pays every Direct Debit set up during the run."""
    settled = 0
    for _email, session_id, method, _donation in paid:
        if method == "direct debit":
            sandbox.settle_direct_debit(session_id)
            settled += 1
    return settled


def sandbox_counts(sandbox: Any, paid: list[tuple[str, str, str, int]]) -> Counter[str]:
    """What Stripe holds for the run's checkouts: each paid session is a membership with its
    membership line, and a donation line when its metadata carries one."""
    counts: Counter[str] = Counter()
    for _email, session_id, _method, _donation in paid:
        session = sandbox.object(session_id)
        if session["payment_status"] == "paid":
            counts["memberships"] += 1
            counts["membership payments"] += 1
            gift = int(session["metadata"].get("donation") or 0) > 0
            counts["donation payments"] += gift
            if _collected_by_bacs(sandbox, session):  # the membership payment and its gift
                counts["Direct Debit payments"] += 1 + gift
    return counts


def _collected_by_bacs(sandbox: Any, session: dict[str, Any]) -> bool:
    """Whether the charge that paid the session was a Bacs Direct Debit (its payment method details)."""
    intent_id = session.get("payment_intent")
    if not intent_id and session.get("invoice"):
        rows = [
            p for p in sandbox.find("invoice_payment", invoice=session["invoice"]) if p["status"] == "paid"
        ]
        intent_id = rows[0]["payment"]["payment_intent"] if rows else None
    if not intent_id:
        return False
    charge = sandbox.object(sandbox.object(intent_id)["latest_charge"])
    return bool(charge["payment_method_details"]["type"] == "bacs_debit")


def check_database(url: str, paid: list[tuple[str, str, str, int]], event_ids: set[str],
                   stripe: Counter[str]) -> dict[str, Any]:  # fmt: skip
    """Every paid checkout: one active membership, one membership payment and, with a donation, one
    donation payment; the totals equal the sandbox's; every event once."""
    from crm.billing.models import Payment, ProcessedStripeEvent
    from crm.contacts.models import Contact
    from crm.extensions import db
    from crm.memberships.models import Membership

    app = make_app(url)
    wrong: list[str] = []
    recorded_counts: Counter[str] = Counter()
    with app.app_context():
        emails = [email for email, *_rest in paid]
        contacts = (
            dict(db.session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(emails))).all())
            if emails
            else {}
        )
        ids = list(contacts.values())
        active: Counter[int] = Counter()
        memberships: Counter[int] = Counter()
        payments: Counter[tuple[int, str]] = Counter()
        if ids:
            for contact_id, status in db.session.execute(
                select(Membership.contact_id, Membership.status).where(Membership.contact_id.in_(ids))
            ):
                memberships[contact_id] += 1
                active[contact_id] += status == "active"
            for contact_id, kind, method in db.session.execute(
                select(Payment.contact_id, Payment.kind, Payment.method).where(
                    Payment.contact_id.in_(ids), Payment.status == "paid"
                )
            ):
                payments[(contact_id, kind)] += 1
                recorded_counts["Direct Debit payments"] += method == "direct_debit"
        for email, _session, method, donation in paid:
            cid = contacts.get(email)
            if cid is None:
                wrong.append(f"{email}: no contact")
                continue
            got = (active[cid], memberships[cid], payments[(cid, "membership")], payments[(cid, "donation")])
            if got != (1, 1, 1, 1 if donation else 0):
                wrong.append(
                    f"{email} ({method}, donation {donation}): {got[0]} active of {got[1]} memberships, "
                    f"{got[2]} membership and {got[3]} donation payments"
                )
        recorded_counts["memberships"] = sum(active.values())
        recorded_counts["membership payments"] = sum(
            n for (_c, kind), n in payments.items() if kind == "membership"
        )
        recorded_counts["donation payments"] = sum(
            n for (_c, kind), n in payments.items() if kind == "donation"
        )
        recorded = set(db.session.scalars(select(ProcessedStripeEvent.id)).all())
        db.session.remove()
        db.engine.dispose()
    for what in ("memberships", "membership payments", "donation payments", "Direct Debit payments"):
        if recorded_counts[what] != stripe[what]:
            wrong.append(f"{what}: {recorded_counts[what]} in the database, {stripe[what]} in the sandbox")
    # The event id is the table's primary key, so an event can be recorded once at most.
    return {
        "paid checkouts": len(paid), "paid with one active membership and one payment": len(paid) - len(wrong),
        "events recorded": len(recorded & event_ids), "events not recorded": len(event_ids - recorded), "wrong": wrong,
        "database": dict(recorded_counts), "sandbox": dict(stripe),
        "counts match": all(recorded_counts[w] == stripe[w] for w in stripe) and bool(stripe),
    }  # fmt: skip


def scan_log(path: Any, offset: int) -> list[str]:
    """Errors the app logged during the run (tracebacks, a locked database, gunicorn errors)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    marks = ("Traceback", "database is locked", "[ERROR]", "[CRITICAL]", "WORKER TIMEOUT")
    return [line.strip()[:200] for line in text.splitlines() if any(m in line for m in marks)]


# --- the benchmark ------------------------------------------------------------------------------


def run(ctx: Context) -> list[Result]:
    try:
        from devtools.stripe_sandbox.server import serve_in_thread
    except ImportError as error:
        return [Result(NAME, "-", "-", "-", note=f"n/a: no Stripe sandbox ({error})")]
    return [run_backend(ctx, backend, serve_in_thread) for backend in ctx.backends()]


def run_backend(ctx: Context, backend: str, serve_in_thread: Any) -> Result:
    duration = seconds(ctx)
    seeded = ctx.data.seeded(backend, ctx.options.big)
    url = ctx.data.copy(backend, seeded, "load")  # the run adds members: never into the shared data set
    app = ctx.app_server(url, env={
        "STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "PROXY_COUNT": "1",
    })  # fmt: skip
    app.env["BASE_URL"] = f"http://127.0.0.1:{app.port}"
    server = serve_in_thread(port=0, webhook_url=f"http://127.0.0.1:{app.port}/stripe/webhook", delivery="auto",
                             webhook_secret=WEBHOOK_SECRET, secret_key=SECRET_KEY)  # fmt: skip
    app.env["STRIPE_API_BASE"] = server.url
    sandbox_port = int(server.url.rsplit(":", 1)[1])
    log_path = ctx.log_dir / "gunicorn-app.log"
    log_from = log_path.stat().st_size if log_path.exists() else 0
    try:
        with app:
            log(f"{USERS} users for {duration:.0f}s on {backend} ({ctx.options.big:,} contacts), think time "
                f"{THINK[0]}-{THINK[1]}s, rate limits on (PROXY_COUNT=1, one X-Forwarded-For address per user)")  # fmt: skip
            began = time.perf_counter()
            outcome = simulate(app.port, sandbox_port, USERS, duration)
            wall = min(time.perf_counter() - began - 1.0, duration + 60)  # less the 1 s start gate
            client_cpu = outcome.cpu_seconds
            settled = settle_direct_debits(server.sandbox, outcome.paid)
            hooks = wait_for_webhooks(server, DRAIN_SECONDS)
            log(f"webhooks: {hooks}; Direct Debits settled after the run: {settled}")
            stripe = sandbox_counts(server.sandbox, outcome.paid)
    finally:
        server.stop()
    ceiling = client_ceiling(ctx)
    server_errors = scan_log(log_path, log_from)
    event_ids = {e["id"] for e in server.sandbox.events()}
    effects = check_database(url, outcome.paid, event_ids, stripe)
    ctx.data.drop(url)

    by_type = summarise(outcome.records, max(wall, 1e-9))
    print(f"\n  load test, {backend}: {USERS} users, {duration:.0f}s\n")
    print("\n".join("  " + line for line in type_table(by_type).splitlines()), flush=True)
    print()
    for problem in outcome.problems[:10]:
        log(f"problem: {problem}")
    for line in server_errors[:10]:
        log(f"server log: {line}")
    for line in effects["wrong"][:10]:
        log(f"wrong effect: {line}")
    overall = by_type.get("overall (app)", {})
    answered = max(1, overall.get("requests", 0))
    ceiling["ceiling ÷ req/s"] = ceiling["client ceiling req/s (canned answer)"] / max(
        overall.get("req/s", 0.0), 1e-9
    )
    ceiling["client CPU ms per request"] = client_cpu / answered * 1000
    ceiling["client CPU % of the machine"] = 100 * client_cpu / max(wall, 1e-9) / (os.cpu_count() or 1)
    errors = sum(f["errors"] for kind, f in by_type.items() if not kind.startswith("overall"))
    lost = len(effects["wrong"])
    undelivered = hooks["events"] - hooks["delivered"]
    ok = (
        bool(overall)
        and errors == 0
        and lost == 0
        and undelivered == 0
        and hooks["refused deliveries"] == 0
        and effects["events not recorded"] == 0
        and effects["paid checkouts"] > 0
        and effects["counts match"]
    )
    note_parts = []
    if errors:
        note_parts.append(f"{errors} errors")
    if lost:
        note_parts.append(f"{lost} paid checkouts with a lost or doubled effect")
    if undelivered or hooks["refused deliveries"]:
        note_parts.append(
            f"{undelivered} events undelivered, {hooks['refused deliveries']} deliveries refused"
        )
    return Result(
        NAME,
        backend,
        f"{USERS} users × {duration:.0f}s: errors; effects of paid checkouts",
        "0 errors; each paid checkout = 1 active membership + 1 membership payment (+ 1 donation payment)",
        None,
        ok,
        note="; ".join(note_parts),
        figures={
            "req/s": overall.get("req/s", 0.0),
            "p50 ms": overall.get("p50 ms", 0.0),
            "p95 ms": overall.get("p95 ms", 0.0),
            "p99 ms": overall.get("p99 ms", 0.0),
            "requests": overall.get("requests", 0),
            "errors": errors,
            "driver": "loadgen (the users' journeys)",
            **ceiling,
            "joins started": outcome.joins_started,
            "paid checkouts": effects["paid checkouts"],
            "one membership + one payment": effects["paid with one active membership and one payment"],
            "confirmed on the success page": outcome.confirmed_on_page,
            "webhook events": hooks["events"],
            "webhook deliveries": hooks["deliveries"],
            "refused deliveries": hooks["refused deliveries"],
            "refused (type, attempt, answer)": hooks["refused"],
            "events recorded": effects["events recorded"],
            "Direct Debits settled later": settled,
            "joins with a donation": sum(1 for *_rest, donation in outcome.paid if donation),
            "database counts": effects["database"],
            "sandbox counts": effects["sandbox"],
            "server log errors": len(server_errors),
            "contacts": ctx.options.big,
            "seconds": duration,
            "by type": by_type,
            "wrong effects": effects["wrong"][:50],
            "problems": outcome.problems,
        },
    )


def client_ceiling(ctx: Context) -> dict[str, float]:
    """This client's ceiling (issue 25 item 5): the same processes and user threads with no think
    time, each fetching one page over and over from a canned answer; the median of 3 rounds."""
    from bench.canned import canned_server

    rounds: list[tuple[float, float]] = []
    with canned_server() as port:
        for _ in range(3):
            began = time.perf_counter()
            seen = simulate(port, port, USERS, ctx.options.seconds, roles=[("ceiling", "")] * USERS)
            wall = time.perf_counter() - began - 1.0  # less the 1 s start gate
            rounds.append((len(seen.records) / wall, seen.cpu_seconds / max(1, len(seen.records)) * 1000))
    rounds.sort()
    rps, cpu_ms = rounds[1]
    log(f"load client ceiling against a canned answer: req/s {[round(r) for r, _c in rounds]}")
    return {"client ceiling req/s (canned answer)": rps, "client CPU ms per request at the ceiling": cpu_ms}
