"""Getting back in: forgot user ID, forgot password (issue 4)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("recovery", __name__)
