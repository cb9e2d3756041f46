"""The staff console at ``/admin/`` (issue 11 item 2): server-rendered pages over the
staff flows, for every staff role. Each module holds one area's views on the one
blueprint ``bp``; ``idp.web.staff_session.staff_required`` gates every view."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.context_processor
def _staff_context() -> dict[str, Any]:
    """The staff member and a role check for the console's templates (its nav)."""
    from idp.policies.staff_roles import Operation, may

    from ..staff_session import current_staff

    principal = current_staff()

    def staff_may(operation: str) -> bool:
        return principal is not None and may(principal.role, Operation(operation))

    return {"current_staff": principal, "staff_may": staff_may}


# Importing the view modules registers their routes on ``bp``.
from . import (  # noqa: E402,F401
    audit_pages,
    home,
    invitation_pages,
    overview_page,
    patient_pages,
    queue_pages,
    registry_pages,
)
