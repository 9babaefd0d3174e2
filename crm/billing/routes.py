"""Stripe's webhook endpoint."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("billing", __name__)
