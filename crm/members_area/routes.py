"""The signed-in member's own pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("members_area", __name__)
