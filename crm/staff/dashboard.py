"""Staff: the dashboard. The day's work list first, then the figures; every number is SQL
aggregation (COUNT, SUM, GROUP BY, CASE), never a loop over members, so it stays fast at scale."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, render_template
from flask_login import current_user
from sqlalchemy import and_, case, func, or_, select

from crm.billing.models import Payment, PaymentKind, PaymentStatus
from crm.core.permissions import has_permission, requires
from crm.core.templating import render_fragment
from crm.core.types import utcnow
from crm.extensions import db
from crm.memberships.models import Membership, MembershipStatus, Plan
from crm.staff.routes import bp
from crm.staff.work_list import WORK_LIST_SIZE, WorkItem, _ended_at, work_list  # noqa: F401  (shown here)

_cache_lock = threading.Lock()
log = logging.getLogger("crm.staff.dashboard")
CHART_MONTHS = 24
#: Payments that brought money in (net of refunds).
INCOME_STATUSES = (PaymentStatus.PAID, PaymentStatus.PARTLY_REFUNDED, PaymentStatus.REFUNDED)
ENDED_STATUSES = (MembershipStatus.LAPSED, MembershipStatus.CANCELLED, MembershipStatus.EXPIRED)


@bp.app_context_processor
def staff_navigation() -> dict[str, Any]:
    """`staff_can(permission)` for the staff navigation: only the links the role may use."""
    return {"staff_can": lambda permission: has_permission(current_user, permission)}


def month_start(moment: datetime, months_back: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def members_by_status(now: datetime | None = None) -> list[tuple[str, int]]:
    """Each contact's newest membership by status; an abandoned checkout (pending past its
    PENDING_EXPIRY_HOURS) no longer counts as pending, even before the daily job expires it."""
    latest = select(func.max(Membership.id)).group_by(Membership.contact_id)
    still_open = or_(
        Membership.status != MembershipStatus.PENDING,
        Membership.pending_expires_at.is_(None),
        Membership.pending_expires_at >= (now or utcnow()),
    )
    return list(
        db.session.execute(
            select(Membership.status, func.count())
            .where(Membership.id.in_(latest), still_open)
            .group_by(Membership.status)
            .order_by(func.count().desc())
        ).all()
    )


def movement(now: datetime) -> dict[str, int]:
    since = now - timedelta(days=30)
    row = db.session.execute(
        select(
            func.count(func.distinct(case((Membership.joined_at >= since, Membership.contact_id)))),
            func.count(
                func.distinct(
                    case(
                        (
                            and_(Membership.status == MembershipStatus.LAPSED, _ended_at() >= since),
                            Membership.contact_id,
                        )
                    )
                )
            ),
        )
    ).one()
    return {"joined": row[0] or 0, "lapsed": row[1] or 0}


def income_by_plan(start: datetime, end: datetime) -> list[tuple[str, int, int]]:
    """(plan or "Donations", payments, net income) for payments made in [start, end)."""
    label = func.coalesce(Plan.name, case((Payment.kind == PaymentKind.DONATION, "Donations"), else_="Other"))
    net = func.sum(Payment.amount - Payment.amount_refunded)
    return list(
        db.session.execute(
            select(label, func.count(Payment.id), net)
            .select_from(Payment)
            .outerjoin(Membership, Membership.id == Payment.membership_id)
            .outerjoin(Plan, Plan.id == Membership.plan_id)
            .where(Payment.status.in_(INCOME_STATUSES), Payment.paid_at >= start, Payment.paid_at < end)
            .group_by(label)
            .order_by(net.desc())
        ).all()
    )


def _month_key(column: Any) -> Any:
    """'YYYY-MM' of a UTC timestamp, in SQL (one bucket per row: GROUP BY, not a column per month)."""
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _later_of(first: Any, second: Any) -> Any:
    return func.greatest(first, second) if db.engine.dialect.name == "postgresql" else func.max(first, second)


def _counts_by_month(moment: Any, *conditions: Any) -> dict[str, int]:
    key = _month_key(moment).label("month")
    rows = db.session.execute(select(key, func.count()).where(*conditions).group_by(key)).all()
    return {month: int(count) for month, count in rows}


def monthly_series(now: datetime) -> list[dict[str, Any]]:
    """Members (holding a membership at each month's end, or now) and net income, for 24 months.

    Three GROUP BY month queries (joined, ended, income); the running totals are summed here.
    A membership counts at a cut-off when it joined before it and had not ended by then, i.e.
    joined before the cut-off minus those whose later of (joined, ended) is before it.
    """
    starts = [month_start(now, back) for back in range(CHART_MONTHS - 1, -1, -1)]
    ends = starts[1:] + [month_start(now, -1)]
    counted = (Membership.joined_at.is_not(None), Membership.status != MembershipStatus.PENDING)
    ended = func.coalesce(
        Membership.ended_at, case((Membership.status.in_(ENDED_STATUSES), Membership.updated_at))
    )
    gone = _later_of(Membership.joined_at, ended)
    joined = _counts_by_month(Membership.joined_at, *counted, Membership.joined_at < now)
    left = _counts_by_month(gone, *counted, ended.is_not(None), gone < now)
    key = _month_key(Payment.paid_at).label("month")
    income: dict[str, int] = dict(
        db.session.execute(
            select(key, func.sum(Payment.amount - Payment.amount_refunded))
            .where(
                Payment.status.in_(INCOME_STATUSES), Payment.paid_at >= starts[0], Payment.paid_at < ends[-1]
            )
            .group_by(key)
        ).all()
    )
    first = starts[0].strftime("%Y-%m")
    members = sum(n for month, n in joined.items() if month < first) - sum(
        n for month, n in left.items() if month < first
    )
    series = []
    for start in starts:
        month = start.strftime("%Y-%m")
        members += joined.get(month, 0) - left.get(month, 0)
        series.append({"month": start, "members": members, "income": int(income.get(month) or 0)})
    return series


def chart_geometry(series: list[dict[str, Any]], width: int = 720, height: int = 240) -> dict[str, Any]:
    """Coordinates for the server-drawn SVG: income as bars, members as a line."""
    pad_left, pad_bottom, pad_top = 48, 28, 12
    plot_h = height - pad_bottom - pad_top
    step = (width - pad_left) / max(1, len(series))
    top_income = max([p["income"] for p in series] + [1])
    top_members = max([p["members"] for p in series] + [1])
    bars, points = [], []
    for i, point in enumerate(series):
        x = pad_left + i * step
        bar_h = plot_h * point["income"] / top_income
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(pad_top + plot_h - bar_h, 1),
                "w": round(step * 0.7, 1),
                "h": round(bar_h, 1),
                **point,
            }
        )
        y = pad_top + plot_h - plot_h * point["members"] / top_members
        points.append(f"{round(x + step / 2, 1)},{round(y, 1)}")
    return {
        "width": width,
        "height": height,
        "baseline": pad_top + plot_h,
        "left": pad_left,
        "bars": bars,
        "line": " ".join(points),
        "top_income": top_income,
        "top_members": top_members,
        "label_every": 3,
        "step": step,
    }


#: Seconds the dashboard's figures are reused (config DASHBOARD_CACHE_SECONDS; 0 turns it off).
CACHE_SECONDS = 60


def dashboard_figures(now: datetime) -> dict[str, Any]:
    """Every figure on the dashboard, computed in SQL (a dozen aggregate queries)."""
    series = monthly_series(now)
    return {
        "as_of": now,
        "work": work_list(now),
        "by_status": members_by_status(now),
        "movement": movement(now),
        "income_month": income_by_plan(month_start(now), now + timedelta(seconds=1)),
        "income_year": income_by_plan(datetime(now.year, 1, 1, tzinfo=UTC), now + timedelta(seconds=1)),
        "series": series,
        "chart": chart_geometry(series),
    }


def _render_body(figures: dict[str, Any], *, refreshed: bool) -> Any:
    return render_fragment("staff/_dashboard_body.html", refreshed=refreshed, **figures)


def cached_dashboard_body(now: datetime) -> Any:
    """The dashboard's figures, rendered, reused for up to CACHE_SECONDS (per app process).

    At 100,000 members the aggregates take a second or two: when the copy is older than that,
    staff are still served it at once ("as of HH:MM") while a background thread computes the next
    one (DASHBOARD_REFRESH_IN_BACKGROUND; tests refresh in the request). A new day, or no copy
    yet, is computed in the request.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # current_app is typed as Flask, not as the proxy that has this
    ttl = int(app.config.get("DASHBOARD_CACHE_SECONDS", CACHE_SECONDS))
    if ttl <= 0:
        return _render_body(dashboard_figures(now), refreshed=False)
    store: dict[str, Any] = app.extensions.setdefault("crm_dashboard_cache", {})
    day = now.date().isoformat()
    with _cache_lock:
        held: Any = store.get("figures")  # the figures and their day and expiry, or nothing yet
        fresh = bool(held and held["day"] == day)
        if fresh and held["until"] <= now:
            if app.config.get("DASHBOARD_REFRESH_IN_BACKGROUND", True):
                if not store.get("refreshing"):
                    store["refreshing"] = True
                    threading.Thread(
                        target=_refresh, args=(app, ttl), name="dashboard-refresh", daemon=True
                    ).start()
            else:
                fresh = False
    if not fresh:
        figures = dashboard_figures(now)
        held = {"day": day, "until": now + timedelta(seconds=ttl), "figures": figures, "body": None}
        with _cache_lock:
            store["figures"] = held
    if held["body"] is None:
        held["body"] = _render_body(held["figures"], refreshed=True)
    return held["body"]


def _refresh(app: Any, ttl: int) -> None:
    """Compute the next copy of the figures outside any request (its body is rendered by the
    next request, which has the URLs at hand)."""
    store: dict[str, Any] = app.extensions.setdefault("crm_dashboard_cache", {})
    try:
        with app.app_context():
            now = utcnow()
            figures = dashboard_figures(now)
            db.session.remove()
        with _cache_lock:
            store["figures"] = {"day": now.date().isoformat(), "until": now + timedelta(seconds=ttl),
                                "figures": figures, "body": None}  # fmt: skip
    except Exception:  # noqa: BLE001  (the old copy stays; the next request tries again)
        log.exception("dashboard figures: background refresh failed")
    finally:
        with _cache_lock:
            store["refreshing"] = False


@bp.route("")
@bp.route("/")
@requires("dashboard")
def dashboard():
    return render_template("staff/dashboard.html", dashboard_body=cached_dashboard_body(utcnow()))
