"""Self sign-up pages (issue 3): two steps, then "check your email"."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("signup", __name__)
