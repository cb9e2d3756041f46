"""What a staff operation refuses, as codes each surface turns into its own answer.

The API answers ``{"error": code, "error_description": message}`` with ``status``; the
command line prints the message and exits 2; the console shows the message. Every
refusal happens before anything is written.
"""

from __future__ import annotations

from idp.policies.staff_roles import Operation, StaffPrincipal


class StaffError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(StaffError):
    """Bad or missing input (a reason too short, an unknown role, a malformed address)."""


class Refusal(StaffError):
    """A refusal of who is asking (not of what they typed).

    It carries what was tried, so that the surface that catches it can put the attempt
    on the record (``staff_refused``, :mod:`.refusals`) in a transaction of its own.
    """

    def __init__(
        self,
        message: str,
        *,
        principal: StaffPrincipal | None = None,
        operation: Operation | None = None,
        portal: str | None = None,
    ) -> None:
        super().__init__(message)
        self.principal = principal
        self.operation = operation
        self.portal = portal


class Forbidden(Refusal):
    """The principal's role or portals do not cover this operation."""

    status = 403
    code = "forbidden"


class NotFound(StaffError):
    """No such account, portal, invitation, enrollment or grant (within the scope)."""

    status = 404
    code = "not_found"


class OutOfScope(Refusal):
    """Another portal's item, answered exactly as one that does not exist (404), so ids
    say nothing across practices; still a refused attempt on the record."""

    status = 404
    code = "not_found"


class Conflict(StaffError):
    """The target is not in a state the operation applies to (already closed, taken)."""

    status = 409
    code = "conflict"
