"""Invitations: activation pages and the JSON APIs that create them (issue 5)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("invitations", __name__)
# The JSON API (practice systems and staff tools): bearer tokens, no CSRF.
api = Blueprint("invitations_api", __name__, url_prefix="/api")
