"""What a console page shows when a staff operation refuses (the operation's message)."""

from __future__ import annotations

from flask import render_template

from idp.flows.staff.errors import StaffError
from idp.policies.staff_roles import StaffPrincipal

from ..staff_session import current_staff


def staff() -> StaffPrincipal:
    """The principal of a view behind ``staff_required`` (always signed in there)."""
    principal = current_staff()
    assert principal is not None
    return principal


def refused(error: StaffError) -> tuple[str, int]:
    return render_template("admin/refused.html", message=error.message), error.status
