"""The staff CRM blueprint. Each area's views live in their own module, registered below."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

# Importing the modules registers their views on `bp`.
from crm.staff import (  # noqa: E402,F401
    audiences_admin,
    audit_views,
    campaigns_admin,
    contact_marketing,
    dashboard,
    events_admin,
    gift_aid,
    imports,
    members,
    news_admin,
    outbox,
    pages_admin,
    payments,
    plans_admin,
)
