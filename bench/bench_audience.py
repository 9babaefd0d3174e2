"""10. Audiences and campaigns (issue 21), at the large data set:

a. the audience builder's live count (/staff/audiences/count) with 3 conditions (no membership or
   lapsed, postcode areas N and E, news by email): p95 against a signed-in member's /news on the
   same server, one request at a time, in alternating rounds (target ≤ 2×);
b. queuing a campaign to every contact of the data set, all of them consenting: the sending job
   (crm.campaigns.sending.send_campaign) writing the recipient rows and handing every message to
   the outbox, in a process of its own: wall time ≤ 60 s and that process's peak RSS < 100 MB;
c. delivering those outbox messages to an SMTP sink (aiosmtpd) on loopback with the app's delivery
   (crm.email.delivery.deliver_due: claim, send, mark) against a bare smtplib loop sending the same
   messages over one connection, in alternating rounds (target ≥ 0.5×).

b and c run on a copy of the seeded database, so the other benchmarks' data stays as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench import loadgen
from bench.ceiling import generator_overhead
from bench.common import ROOT, Result, log, median
from bench.context import Context, alternate, latency_run, median_p95_ms

NAME = "audience"
COUNT_TARGET = 2.0
QUEUE_SECONDS, QUEUE_MB = 60.0, 100.0
SEND_TARGET = 0.5
COUNT_PATH = "/staff/audiences/count?status=none&status=lapsed&postcode_areas=N,+E&consent=email:news"
#: The floor under the count: the same staff JSON request (session, permission, second factor, form,
#: JSON) with a filter the database answers from one empty index range (no postcode area "ZZ").
FLOOR_PATH = "/staff/audiences/count?postcode_areas=ZZ"


def run(ctx: Context) -> list[Result]:
    results: list[Result] = []
    parts = ctx.options.audience_parts
    for backend in ctx.backends():
        if "count" in parts:
            results.append(count_preview(ctx, backend))
        if "queue" in parts or "send" in parts:
            results.extend(queue_and_send(ctx, backend))
    return results


def count_preview(ctx: Context, backend: str) -> Result:
    opts = ctx.options
    url = ctx.data.seeded(backend, opts.big)
    count = 10 if opts.quick else 20
    metric = "audience count p95 ÷ /news p95"
    with ctx.app_server(url) as app:
        preview = loadgen.request_bytes(
            "GET", COUNT_PATH, app.port, headers={"Cookie": ctx.cookie("staff", url, app.port)}
        )
        floor = loadgen.request_bytes(
            "GET", FLOOR_PATH, app.port, headers={"Cookie": ctx.cookie("staff", url, app.port)}
        )
        news = loadgen.request_bytes(
            "GET", "/news", app.port, headers={"Cookie": ctx.cookie("member", url, app.port)}
        )
        status, _h, body = loadgen.fetch(app.port, preview)
        if status != 200 or b'"count"' not in body:
            return Result(
                NAME, backend, metric, f"≤ {COUNT_TARGET:g}", note=f"n/a: the count answered {status}"
            )
        matched = json.loads(body)["count"]
        loads = alternate(opts.rounds, {
            "news": lambda: latency_run(app.port, [news], count),
            "count": lambda: latency_run(app.port, [preview], count),
            "floor": lambda: latency_run(app.port, [floor], count),
        })  # fmt: skip
    news_p95, count_p95 = median_p95_ms(loads["news"]), median_p95_ms(loads["count"])
    floor_p95 = median_p95_ms(loads["floor"])
    ratio = count_p95 / news_p95 if news_p95 else 0.0
    errors = sum(x.errors for group in loads.values() for x in group)
    return Result(
        NAME, backend, metric, f"≤ {COUNT_TARGET:g}", ratio, ratio <= COUNT_TARGET and errors == 0,
        note=f"{errors} errors" if errors else "",
        figures={"count p95 ms": count_p95, "/news p95 ms": news_p95, "matched": matched, "contacts": opts.big,
                 "driver": "loadgen, one at a time", **generator_overhead(),
                 "floor p95 ms": floor_p95, "floor ÷ /news": round(floor_p95 / news_p95, 2) if news_p95 else 0.0},
    )  # fmt: skip


def _child(*args: str) -> dict[str, Any]:
    """Run this module's `args[0]` step in a fresh Python process; its last stdout line is JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_audience", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{args[0]} step failed: {done.stderr.strip()[-600:]}\n{done.stderr.strip()[:3000]}"
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def queue_and_send(ctx: Context, backend: str) -> list[Result]:
    opts = ctx.options
    url = ctx.data.copy(backend, ctx.data.seeded(backend, opts.big), "campaign")
    prepared = _child("prepare", url)  # the data set and the demo's few contacts
    queued = _child("queue", url)
    log(f"queued {queued['queued']:,} in {queued['seconds']:.1f}s, peak RSS {queued['peak_mb']:.0f} MB "
        f"(before the job {queued['start_mb']:.0f} MB)")  # fmt: skip
    everyone = queued["queued"] == prepared["recipients"] >= opts.big
    ok = queued["seconds"] <= QUEUE_SECONDS and queued["peak_mb"] < QUEUE_MB and everyone
    results: list[Result] = []
    queue_result = Result(
        NAME, backend, f"queue a campaign to {prepared['recipients']:,}: wall s", f"≤ {QUEUE_SECONDS:g} s; < {QUEUE_MB:g} MB",
        round(queued["seconds"], 2), ok, note="" if everyone else f"{queued['queued']:,} of {prepared['recipients']:,} queued",
        figures={"wall s": queued["seconds"], "peak RSS MB": queued["peak_mb"], "RSS before the job MB": queued["start_mb"],
                 "rows/s": queued["queued"] / queued["seconds"] if queued["seconds"] else 0.0},
    )  # fmt: skip
    if "queue" in opts.audience_parts:
        results.append(queue_result)
    if "send" not in opts.audience_parts:
        return results
    per_round = 300 if opts.quick else 2000
    sent = _child("send", url, str(per_round), str(opts.rounds))
    app_rate, bare_rate = median(sent["app"]), median(sent["bare"])
    ratio = app_rate / bare_rate if bare_rate else 0.0
    log(f"SMTP msgs/s app {[round(x) for x in sent['app']]} bare {[round(x) for x in sent['bare']]}")
    send_result = Result(
        NAME, backend, "outbox delivery msgs/s ÷ bare smtplib msgs/s", f"≥ {SEND_TARGET:g}", ratio,
        ratio >= SEND_TARGET and sent["accepted"] == sent["expected"],
        note="" if sent["accepted"] == sent["expected"] else f"sink got {sent['accepted']} of {sent['expected']}",
        figures={"app msgs/s": app_rate, "bare msgs/s": bare_rate, "messages per round": per_round},
    )  # fmt: skip
    return [*results, send_result]


# --- the steps, each in a process of its own ----------------------------------------------------


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory; "VmHWM" is its peak. Not getrusage's ru_maxrss: Linux carries
    that over from the parent through fork and exec, so a child of the benchmark (itself ~160 MB,
    with its servers' clients) read the parent's size, whatever the child did."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _app(url: str, **overrides: Any) -> Any:
    from bench.datasets import make_app

    # Sending is paced by CAMPAIGN_RATE_PER_MINUTE in production; here the machinery's own speed.
    return make_app(url, CAMPAIGN_RATE_PER_MINUTE=10**9, MAIL_SEND_AFTER_COMMIT=False, **overrides)


def step_prepare(url: str) -> dict[str, Any]:
    """Everyone in the data set consents to news by email (the import's bulk path); a campaign to
    them all, confirmed as staff would."""
    from sqlalchemy import select

    from crm.audiences.services import save_audience
    from crm.campaigns import services
    from crm.contacts import consent_bulk
    from crm.contacts.models import Contact, ContactConsent
    from crm.core.types import utcnow
    from crm.extensions import db

    app = _app(url)
    with app.app_context():
        consenting = select(ContactConsent.contact_id).where(
            ContactConsent.channel == "email",
            ContactConsent.purpose == "news",
            ContactConsent.granted.is_(True),
        )
        missing = list(db.session.scalars(select(Contact.id).where(Contact.id.not_in(consenting))))
        consent_bulk.record_imported(
            [(cid, "email", "news", True) for cid in missing], wording="bench", at=utcnow()
        )
        db.session.commit()
        audience = save_audience("Everyone who wants news", {"consent": ["email:news"]}, actor=None)
        campaign = services.save_draft(
            None, subject="Delegation report", preheader="What we saw", body="We **met** them.\n\n" * 20,
            purpose="news", audience_id=audience.id, post_id=None, actor=None,
        )  # fmt: skip
        count = services.recipient_count(campaign)
        services.confirm_send(campaign, count_seen=count, when_uk=None, actor=None)
        db.session.commit()
        return {"campaign": campaign.id, "recipients": count, "granted": len(missing)}


def step_queue(url: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from crm.campaigns.models import Campaign, CampaignRecipient
    from crm.campaigns.sending import send_campaign
    from crm.extensions import db

    app = _app(url)
    with app.app_context():
        campaign_id = db.session.scalar(select(func.max(Campaign.id)))
        db.session.commit()
        start_mb = _rss_mb()
        started = time.perf_counter()
        status = send_campaign(campaign_id)
        seconds = time.perf_counter() - started
        queued = db.session.scalar(
            select(func.count()).select_from(CampaignRecipient).where(
                CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "queued"
            )
        )  # fmt: skip
    peak_mb = _rss_mb("VmHWM")
    return {"status": status, "queued": queued, "seconds": seconds, "peak_mb": peak_mb, "start_mb": start_mb}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Sink:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted += 1
        return "250 OK"


def step_send(url: str, per_round: str, rounds: str) -> dict[str, Any]:
    import smtplib

    from aiosmtpd.controller import Controller
    from sqlalchemy import select

    from crm.email.delivery import deliver_due
    from crm.email.models import OutboxMessage
    from crm.email.sender import build_message
    from crm.extensions import db

    size, count = int(per_round), int(rounds)
    sink, port = _Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    mail = {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_USE_TLS": False,
            "MAIL_USERNAME": None, "MAIL_CLAIM_BATCH": 50}  # fmt: skip
    app = _app(url, **mail)
    out: dict[str, Any] = {"app": [], "bare": [], "expected": 0}
    try:
        with app.app_context():
            sender = app.config["MAIL_DEFAULT_SENDER"]
            for _ in range(count + 1):  # the first round warms both up and is not counted
                rows = list(db.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.status == "queued").order_by(OutboxMessage.id).limit(size)
                ))  # fmt: skip
                ids = [r.id for r in rows]
                messages = [(r.to_email, build_message(r, sender)) for r in rows]
                db.session.commit()
                started = time.perf_counter()
                connection = smtplib.SMTP("127.0.0.1", port, timeout=10)
                for to, message in messages:
                    connection.send_message(message, from_addr=sender, to_addrs=[to])
                connection.quit()
                bare = len(messages) / (time.perf_counter() - started)
                started = time.perf_counter()
                totals = deliver_due(ids)
                db.session.commit()
                delivered = totals["sent"] / (time.perf_counter() - started)
                out["expected"] += 2 * len(ids)
                if _ > 0:
                    out["bare"].append(bare)
                    out["app"].append(delivered)
    finally:
        controller.stop()
    out["accepted"] = sink.accepted
    return out


STEPS = {"prepare": step_prepare, "queue": step_queue, "send": step_send}

if __name__ == "__main__":
    print(json.dumps(STEPS[sys.argv[1]](*sys.argv[2:]), default=str))
