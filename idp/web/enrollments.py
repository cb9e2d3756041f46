"""Staff review of sign-ups that matched an existing account (issue 5): JSON admin API."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("enrollments", __name__)
