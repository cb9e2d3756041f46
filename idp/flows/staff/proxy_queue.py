"""Proxy grants awaiting staff approval as staff operations (issue 11 item 1, "Queues"):
the queue, approve (optionally recording the teen's signature), reject.

:class:`idp.flows.proxy_grants.ProxyGrantFlow` holds the grant's rules (what approval
moves, the emails to both sides); rejecting a pending grant is its ``revoke``. This
module adds, once for the console, ``/api/admin/proxy-grants`` and ``idp proxy``, the
role and portal gate (another portal's grant answers as absent), the staff reason and
the audit facts (actor, role, operation, portal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from idp.i18n import translate
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import PortalRecord, RequestMeta
from idp.store.interfaces import Transactions

from ..patients import ProxyRefusal
from ..proxy_grants import PENDING, ProxyGrantFlow
from ..proxy_views import GrantView
from .access import authorize, authorize_role
from .errors import Conflict, InvalidInput, NotFound, OutOfScope, StaffError
from .inputs import check_reason

MAX_ID = 2**31 - 1
_BY_STATUS: dict[int, type[StaffError]] = {404: NotFound, 409: Conflict}


def _no_grant(grant_id: int) -> str:
    return translate("no grant {id}").format(id=grant_id)


def _staff_error(exc: ProxyRefusal) -> StaffError:
    text = f"{exc.code.replace('_', ' ')} ({exc.field.replace('_', ' ')})"
    return _BY_STATUS.get(exc.status, InvalidInput)(text)


def _facts(principal: StaffPrincipal, operation: Operation) -> dict[str, Any]:
    return {"operation": operation.value, "staff_role": principal.role.value}


class ProxyApprovals:
    def __init__(self, *, db: Transactions, flow: Callable[[], ProxyGrantFlow]) -> None:
        self._db = db
        self._flow = flow

    def _portals(self, principal: StaffPrincipal) -> list[PortalRecord]:
        with self._db.transaction() as uow:
            every: list[PortalRecord] = uow.portals.list()
        return [p for p in every if principal.portals is None or p.slug in principal.portals]

    def pending(self, principal: StaffPrincipal) -> list[GrantView]:
        """Grants awaiting approval (or the teen's signature) in the principal's portals."""
        authorize_role(principal, Operation.PROXY_LIST)
        flow = self._flow()
        found: list[GrantView] = []
        for portal in self._portals(principal):
            found.extend(v for v in flow.list_for_portal(portal) if v.grant.status in PENDING)
        return sorted(found, key=lambda v: v.grant.id)

    def _reach(self, principal: StaffPrincipal, operation: Operation, grant_id: int) -> int | None:
        """The portal id the grant must belong to (None: any), or NotFound."""
        authorize_role(principal, operation)
        if not 1 <= grant_id <= MAX_ID:
            raise NotFound(_no_grant(grant_id))
        try:
            view = self._flow().get(grant_id)
        except ProxyRefusal:
            raise NotFound(_no_grant(grant_id)) from None
        if principal.portals is not None and view.portal.slug not in principal.portals:
            raise OutOfScope(
                _no_grant(grant_id),
                principal=principal,
                operation=operation,
                portal=view.portal.slug,
            )
        authorize(principal, operation, view.portal.slug)
        return view.portal.id

    def approve(
        self,
        principal: StaffPrincipal,
        grant_id: int,
        *,
        reason: str | None = None,
        teen_signed: bool = False,
        staff_name: str | None = None,
        meta: RequestMeta | None = None,
    ) -> GrantView:
        """``staff_name`` is the person a tool's API call names; a signed-in staff member
        approves under their own user ID."""
        portal_id = self._reach(principal, Operation.PROXY_APPROVE, grant_id)
        why = check_reason(reason, required=False)
        facts = _facts(principal, Operation.PROXY_APPROVE)
        if why:
            facts["reason"] = why
        who = principal.actor.removeprefix("staff:") if principal.actor.startswith("staff:") else ""
        try:
            return self._flow().approve(
                grant_id,
                staff=who or staff_name or "",
                actor=principal.actor,
                meta=meta or RequestMeta(),
                teen_signed=teen_signed,
                portal_id=portal_id,
                facts=facts,
            )
        except ProxyRefusal as exc:
            raise _staff_error(exc) from exc

    def reject(
        self,
        principal: StaffPrincipal,
        grant_id: int,
        *,
        reason: str | None,
        operation: Operation = Operation.PROXY_APPROVE,
        actor: str | None = None,
        meta: RequestMeta | None = None,
    ) -> GrantView:
        """End the grant (pending: rejected; active: revoked, with ``PROXY_REVOKE``)."""
        portal_id = self._reach(principal, operation, grant_id)
        why = check_reason(reason, required=True)
        assert why is not None
        try:
            return self._flow().revoke(
                grant_id,
                actor=actor or principal.actor,
                meta=meta or RequestMeta(),
                reason=why,
                portal_id=portal_id,
                facts=_facts(principal, operation),
            )
        except ProxyRefusal as exc:
            raise _staff_error(exc) from exc
