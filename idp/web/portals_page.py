""" "My portals": the practices an account is linked to (issue 5)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portals", __name__, url_prefix="/account/portals")
