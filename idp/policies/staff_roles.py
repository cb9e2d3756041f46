"""Who among the staff may do what, and on which practice's data (issue 11 item 1).

Four roles, each a fixed set of operations:

- ``admin``: everything.
- ``support``: the help desk's patient tasks: lookup, unlock, reset link, email change
  (with a reason), MFA reset (with a reason), close and reopen.
- ``practice``: one or more portals' own work: invitations, enrollments, patients,
  proxy grants, and that portal's audit trail.
- ``auditor``: read-only audit: search and export.

A practice principal is confined to its portals (``StaffPrincipal.portals``); every
other role has ``portals=None``, which means all of them. The console, the JSON admin
API and the command line all ask :func:`may_on_portal` before an operation, so that a
role means the same thing on every surface (the role × operation × surface tests hold
them to it).

Pure: no I/O. The flows fetch the principal and the portal first and pass them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"
    PRACTICE = "practice"
    AUDITOR = "auditor"


class Operation(StrEnum):
    """Every staff operation, named once; surfaces and audit events use these values."""

    # audit
    AUDIT_SEARCH = "audit_search"
    AUDIT_EXPORT = "audit_export"
    # patients (support desk)
    PATIENT_LOOKUP = "patient_lookup"
    UNLOCK = "unlock"
    SEND_RESET_LINK = "send_reset_link"
    CHANGE_EMAIL = "change_email"
    MFA_RESET = "mfa_reset"
    CLOSE_ACCOUNT = "close_account"
    REOPEN_ACCOUNT = "reopen_account"
    # a practice's queues and records
    INVITATION_LIST = "invitation_list"
    INVITATION_CREATE = "invitation_create"
    INVITATION_RESEND = "invitation_resend"
    INVITATION_REVOKE = "invitation_revoke"
    ENROLLMENT_LIST = "enrollment_list"
    ENROLLMENT_APPROVE = "enrollment_approve"
    ENROLLMENT_REJECT = "enrollment_reject"
    PATIENT_ADD = "patient_add"
    PROXY_LIST = "proxy_list"
    PROXY_GRANT = "proxy_grant"
    PROXY_APPROVE = "proxy_approve"
    PROXY_REVOKE = "proxy_revoke"
    # portals and clients
    PORTAL_LIST = "portal_list"
    PORTAL_CREATE = "portal_create"
    PORTAL_REQUIRE_MFA = "portal_require_mfa"
    CLIENT_LIST = "client_list"
    CLIENT_CREATE = "client_create"
    CLIENT_ROTATE_SECRET = "client_rotate_secret"
    CLIENT_EDIT_REDIRECT_URIS = "client_edit_redirect_uris"
    CLIENT_REQUIRE_MFA = "client_require_mfa"
    # the staff themselves
    STAFF_LIST = "staff_list"
    STAFF_MANAGE = "staff_manage"


SUPPORT_OPERATIONS = frozenset(
    {
        Operation.PATIENT_LOOKUP,
        Operation.UNLOCK,
        Operation.SEND_RESET_LINK,
        Operation.CHANGE_EMAIL,
        Operation.MFA_RESET,
        Operation.CLOSE_ACCOUNT,
        Operation.REOPEN_ACCOUNT,
    }
)

PRACTICE_OPERATIONS = frozenset(
    {
        Operation.INVITATION_LIST,
        Operation.INVITATION_CREATE,
        Operation.INVITATION_RESEND,
        Operation.INVITATION_REVOKE,
        Operation.ENROLLMENT_LIST,
        Operation.ENROLLMENT_APPROVE,
        Operation.ENROLLMENT_REJECT,
        Operation.PATIENT_ADD,
        Operation.PROXY_LIST,
        Operation.PROXY_GRANT,
        Operation.PROXY_APPROVE,
        Operation.PROXY_REVOKE,
        # "that portal's audit": searches are narrowed to its portals (audit_portals)
        Operation.AUDIT_SEARCH,
        Operation.AUDIT_EXPORT,
    }
)

AUDITOR_OPERATIONS = frozenset({Operation.AUDIT_SEARCH, Operation.AUDIT_EXPORT})

ROLE_OPERATIONS: Mapping[Role, frozenset[Operation]] = {
    Role.ADMIN: frozenset(Operation),
    Role.SUPPORT: SUPPORT_OPERATIONS,
    Role.PRACTICE: PRACTICE_OPERATIONS,
    Role.AUDITOR: AUDITOR_OPERATIONS,
}

# Operations that act on one portal's data; for the others the portal is not asked.
PORTAL_OPERATIONS = PRACTICE_OPERATIONS

# Bearer-token scopes of the JSON admin API and the role each stands for.
SCOPE_ROLES: Mapping[str, Role] = {
    "idp:admin": Role.ADMIN,
    "idp:support": Role.SUPPORT,
    "idp:practice": Role.PRACTICE,
    "idp:auditor": Role.AUDITOR,
}
ROLE_SCOPES: Mapping[Role, str] = {role: scope for scope, role in SCOPE_ROLES.items()}


class StaffRoleError(ValueError):
    """An unknown role, or portals given where they mean nothing (or missing)."""


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """One authenticated staff member or staff tool.

    ``actor`` is what the audit records (``staff:<user ID>``, ``client:<client_id>``).
    ``portals`` holds the slugs a practice principal may touch; ``None`` means every
    portal (admin, support, auditor).
    """

    actor: str
    role: Role
    portals: frozenset[str] | None = None
    # The account behind a person (None for an API client acting for a tool).
    account_id: int | None = None


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise StaffRoleError(f"unknown role {value!r} (one of {names})") from None


def check_portals(role: Role, portals: frozenset[str]) -> frozenset[str] | None:
    """The portal scope a role is stored with: required for practice, refused otherwise."""
    if role is Role.PRACTICE:
        if not portals:
            raise StaffRoleError("the practice role needs at least one --portal")
        return portals
    if portals:
        raise StaffRoleError(f"the {role} role is not scoped to portals (drop --portal)")
    return None


def may(role: Role, operation: Operation) -> bool:
    """Whether ``role`` includes ``operation`` at all (on some portal)."""
    return operation in ROLE_OPERATIONS[role]


def may_on_portal(principal: StaffPrincipal, operation: Operation, portal: str | None) -> bool:
    """Whether ``principal`` may do ``operation`` on ``portal``'s data.

    ``portal`` is a slug, or None for an operation that names no portal (a patient
    lookup, a search over every portal). A portal-confined principal may do a portal
    operation only on one of its portals, never on "all portals" (``None``).
    """
    if not may(principal.role, operation):
        return False
    if principal.portals is None:
        return True
    if operation not in PORTAL_OPERATIONS:
        return False
    return portal is not None and portal in principal.portals


def audit_portals(principal: StaffPrincipal) -> frozenset[str] | None:
    """The portals whose events an audit search by this principal may return (None: all)."""
    return principal.portals
