"""A practice's invitations as staff operations (issue 11 item 1, "Queues"): list,
create, resend (a new code; the old one dies) and revoke.

:mod:`idp.flows.invitations` holds the invitation itself (validation, the code, the
email); this module adds, once for every surface (console, ``/api/admin/``,
``idp invitations``), the role and portal gate, the staff reason and the audit facts
(actor, role, operation, portal, reason). Another portal's invitation answers as
absent (404), so ids say nothing across practices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from idp.i18n import translate
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import PortalRecord, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.invitations import InvitationRecord

from ..invitations import Created, InvitationFlow, InvitationInput, Reissue, Revocation
from .access import authorize, authorize_role
from .errors import Conflict, InvalidInput, NotFound, OutOfScope
from .inputs import check_reason

MAX_ID = 2**31 - 1


def _no_invitation(invitation_id: int) -> str:
    return translate("no invitation {id}").format(id=invitation_id)


@dataclass(frozen=True, slots=True)
class PortalInvitations:
    portal: PortalRecord
    invitations: list[InvitationRecord]


def _facts(principal: StaffPrincipal, operation: Operation, reason: str | None) -> dict[str, Any]:
    facts: dict[str, Any] = {"operation": operation.value, "staff_role": principal.role.value}
    if reason:
        facts["reason"] = reason
    return facts


class InvitationDesk:
    def __init__(self, *, db: Transactions, flow: Callable[[], InvitationFlow]) -> None:
        self._db = db
        self._flow = flow

    def _portal(self, principal: StaffPrincipal, operation: Operation, slug: str) -> PortalRecord:
        authorize_role(principal, operation)
        if not slug or not slug.isprintable():
            raise InvalidInput(translate("choose a portal (its short name)"))
        authorize(principal, operation, slug)
        portal: PortalRecord | None = None
        if len(slug) <= 64:
            with self._db.transaction() as uow:
                portal = uow.portals.by_slug(slug)
        if portal is None:
            raise NotFound(translate("no portal {slug}").format(slug=repr(slug)))
        return portal

    def _scope(
        self, principal: StaffPrincipal, invitation_id: int, operation: Operation
    ) -> int | None:
        """Which invitation ids the principal reaches: None (all), or by its portals."""
        if not 1 <= invitation_id <= MAX_ID:
            raise NotFound(_no_invitation(invitation_id))
        if principal.portals is None:
            return None
        with self._db.transaction() as uow:
            found = uow.invitations.by_id(invitation_id)
        if found is None:
            raise NotFound(_no_invitation(invitation_id))
        if found.portal_slug not in principal.portals:
            raise OutOfScope(
                _no_invitation(invitation_id),
                principal=principal,
                operation=operation,
                portal=found.portal_slug,
            )
        return int(found.portal_id)

    def portals(self, principal: StaffPrincipal) -> list[PortalRecord]:
        """The portals whose invitations this principal may list (a practice: its own)."""
        authorize_role(principal, Operation.INVITATION_LIST)
        with self._db.transaction() as uow:
            every: list[PortalRecord] = uow.portals.list()
        return [p for p in every if principal.portals is None or p.slug in principal.portals]

    def list(self, principal: StaffPrincipal, slug: str) -> PortalInvitations:
        portal = self._portal(principal, Operation.INVITATION_LIST, slug)
        return PortalInvitations(portal, self._flow().list_for_portal(portal.id))

    def create(
        self,
        principal: StaffPrincipal,
        slug: str,
        form: InvitationInput,
        *,
        reason: str | None = None,
        meta: RequestMeta | None = None,
    ) -> Created:
        """``Created.fields`` names each bad field (nothing stored); else the invitation."""
        portal = self._portal(principal, Operation.INVITATION_CREATE, slug)
        why = check_reason(reason, required=False)
        return self._flow().create(
            portal,
            form,
            actor=principal.actor,
            meta=meta or RequestMeta(),
            facts=_facts(principal, Operation.INVITATION_CREATE, why),
        )

    def resend(
        self,
        principal: StaffPrincipal,
        invitation_id: int,
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> InvitationRecord:
        authorize_role(principal, Operation.INVITATION_RESEND)
        why = check_reason(reason, required=True)
        portal_id = self._scope(principal, invitation_id, Operation.INVITATION_RESEND)
        outcome, found = self._flow().reissue(
            invitation_id,
            actor=principal.actor,
            meta=meta or RequestMeta(),
            portal_id=portal_id,
            facts=_facts(principal, Operation.INVITATION_RESEND, why),
        )
        if outcome is Reissue.NOT_FOUND or found is None:
            raise NotFound(_no_invitation(invitation_id))
        if outcome is Reissue.NOT_LIVE:
            raise Conflict(
                translate(
                    "invitation {id} is no longer pending (activated, revoked or expired): "
                    "create a new one instead"
                ).format(id=invitation_id)
            )
        return found

    def revoke(
        self,
        principal: StaffPrincipal,
        invitation_id: int,
        *,
        reason: str | None,
        reason_required: bool = True,
        meta: RequestMeta | None = None,
    ) -> tuple[Revocation, InvitationRecord]:
        """Revoking twice is not an error (``ALREADY_REVOKED``): it is revoked either way.

        ``reason_required=False`` keeps ``DELETE /api/admin/invitations/<id>`` and
        ``idp invitations revoke`` working for existing callers that send none.
        """
        authorize_role(principal, Operation.INVITATION_REVOKE)
        why = check_reason(reason, required=reason_required)
        portal_id = self._scope(principal, invitation_id, Operation.INVITATION_REVOKE)
        facts: Mapping[str, Any] = _facts(principal, Operation.INVITATION_REVOKE, why)
        outcome, found = self._flow().revoke(
            invitation_id,
            actor=principal.actor,
            meta=meta or RequestMeta(),
            portal_id=portal_id,
            facts=facts,
        )
        if outcome is Revocation.NOT_FOUND or found is None:
            raise NotFound(_no_invitation(invitation_id))
        if outcome is Revocation.ALREADY_ACTIVATED:
            raise Conflict(
                translate("invitation {id} was already activated").format(id=invitation_id)
            )
        return outcome, found
