"""Staff: pages_admin (views registered on the staff blueprint)."""

from __future__ import annotations

from crm.staff.routes import bp  # noqa: F401
