"""The gate every staff operation passes, and the audit event it leaves.

:func:`authorize` asks the pure policy (``idp.policies.staff_roles``) and raises
:class:`Forbidden`; :func:`staff_event` builds the audit entry with the staff actor,
the role, the portal and the reason, so that every surface records the same facts.
"""

from __future__ import annotations

from typing import Any

from idp.i18n import translate
from idp.policies.staff_roles import (
    Operation,
    Role,
    StaffPrincipal,
    may,
    may_on_portal,
)
from idp.records import AuditEntry, RequestMeta, StaffRecord

from .errors import Forbidden


def authorize(principal: StaffPrincipal, operation: Operation, portal: str | None = None) -> None:
    """Raise :class:`Forbidden` unless the principal's role and portals cover this."""
    if not may_on_portal(principal, operation, portal):
        where = f" on portal {portal!r}" if portal else ""
        raise Forbidden(
            translate("the {role} role may not {value}{where}").format(
                role=principal.role, value=operation.value, where=where
            ),
            principal=principal,
            operation=operation,
            portal=portal,
        )


def authorize_role(principal: StaffPrincipal, operation: Operation) -> None:
    """Raise :class:`Forbidden` unless the role includes ``operation`` on some portal;
    for an operation whose portal is known only after reading the target."""
    if not may(principal.role, operation):
        raise Forbidden(
            translate("the {role} role may not {value}").format(
                role=principal.role, value=operation.value
            ),
            principal=principal,
            operation=operation,
        )


def principal_of(staff: StaffRecord) -> StaffPrincipal:
    """The principal of a signed-in (or CLI-named) staff account."""
    role = Role(staff.role)
    return StaffPrincipal(
        actor=f"staff:{staff.username}",
        role=role,
        portals=frozenset(staff.portals) if role is Role.PRACTICE else None,
        account_id=staff.account_id,
    )


def staff_event(
    principal: StaffPrincipal,
    event: str,
    operation: Operation,
    *,
    subject: str | None = None,
    portal: str | None = None,
    reason: str | None = None,
    meta: RequestMeta | None = None,
    outcome: str = "success",
    **details: Any,
) -> AuditEntry:
    """One staff action on the record: who (actor, role), what, where (portal), why."""
    meta = meta or RequestMeta()
    facts = {
        "operation": operation.value,
        "staff_role": principal.role.value,
        "portal": portal,
        "reason": reason,
        **details,
    }
    return AuditEntry(
        type=event,
        outcome=outcome,
        actor=principal.actor,
        subject=subject,
        ip=meta.ip,
        user_agent=meta.user_agent,
        details={k: v for k, v in facts.items() if v is not None},
    )
