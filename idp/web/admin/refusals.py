"""What a console page shows when a staff operation refuses (the operation's message),
and the record of a refused role (``staff_refused``)."""

from __future__ import annotations

from flask import render_template

from idp.flows.staff.errors import Refusal, StaffError
from idp.policies.staff_roles import StaffPrincipal

from ..deps import request_meta, services
from ..staff_session import current_staff


def staff() -> StaffPrincipal:
    """The principal of a view behind ``staff_required`` (always signed in there)."""
    principal = current_staff()
    assert principal is not None
    return principal


def refused(error: StaffError) -> tuple[str, int]:
    """The refusal page; a 403 (role or portal not covered) goes on the record first."""
    note_refusal(error)
    return render_template("admin/refused.html", message=error.message), error.status


def note_refusal(error: StaffError) -> None:
    """Record ``staff_refused`` for a role or portal the operation refused (403)."""
    if isinstance(error, Refusal):
        services().staff.refusals.record_forbidden(error, surface="console", meta=request_meta())
