"""The enrollment review queue as a staff operation (issue 11 item 1, "Queues").

Sign-ups that closely matched an existing person wait here for staff
(:mod:`idp.flows.enrollments` holds the decision itself: the account it makes, the
emails it sends). This module adds what every surface needs around it, once: the
role and portal gate, the practice's view confined to its portals (another portal's
enrollment is answered as absent, so ids say nothing), the reviewer's name, and the
transaction that holds the decision and its audit event (actor, role, portal, reason).
The console, ``/api/admin/enrollments`` and ``idp enrollments`` all call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idp.i18n import translate
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import RequestMeta
from idp.store.enrollments import EnrollmentRecord
from idp.store.interfaces import Transactions

from ..enrollments import STATUSES, EnrollmentReview, ReviewError
from .access import authorize, authorize_role
from .errors import Conflict, InvalidInput, NotFound, OutOfScope, StaffError

MAX_LIST = 500
# ReviewError codes -> the staff error each surface already knows how to answer
_ERRORS: dict[str, type[StaffError]] = {
    "not_found": NotFound,
    "already_decided": Conflict,
    "username_taken": Conflict,
}


def _no_enrollment(enrollment_id: int) -> str:
    return translate("no enrollment {id}").format(id=enrollment_id)


@dataclass(frozen=True, slots=True)
class QueuedEnrollment:
    """One enrollment as a reviewer sees it, with the portal it came through."""

    view: dict[str, Any]
    portal: str | None


def _staff_error(exc: ReviewError) -> StaffError:
    error = _ERRORS.get(exc.code, InvalidInput)(str(exc))
    error.code = exc.code if error.status != 400 else "invalid_request"
    return error


def _reviewer(principal: StaffPrincipal, staff_name: str | None) -> str:
    """The name the decision is recorded under: the signed-in staff member, or the
    person a tool's API call names (``staff`` in the body) for a ``client:`` actor."""
    if principal.actor.startswith("staff:"):
        return principal.actor.removeprefix("staff:")
    return staff_name or ""


class EnrollmentQueue:
    def __init__(self, *, db: Transactions, review: Callable[[], EnrollmentReview]) -> None:
        self._db = db
        self._review = review

    def _slug(self, uow: Any, record: EnrollmentRecord) -> str | None:
        if record.portal_id is None:
            return None
        portal = uow.portals.by_id(record.portal_id)
        return portal.slug if portal is not None else None

    def _visible(self, principal: StaffPrincipal, slug: str | None) -> bool:
        return principal.portals is None or (slug is not None and slug in principal.portals)

    def list(
        self, principal: StaffPrincipal, *, status: str | None = "pending", limit: int = 100
    ) -> list[QueuedEnrollment]:
        """Oldest first; a practice sees only its portals' enrollments."""
        authorize_role(principal, Operation.ENROLLMENT_LIST)
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                translate("status must be one of {statuses} or all").format(
                    statuses=", ".join(STATUSES)
                )
            )
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput(translate("limit must be 1-{MAX_LIST}").format(MAX_LIST=MAX_LIST))
        review = self._review()
        found: list[QueuedEnrollment] = []
        with self._db.transaction() as uow:
            # Confined principals filter after reading, so read the widest page allowed.
            wide = limit if principal.portals is None else MAX_LIST
            rows = uow.enrollments.list(status=status, limit=wide)
            for record in rows:
                slug = self._slug(uow, record)
                if self._visible(principal, slug):
                    found.append(QueuedEnrollment(review.describe(uow, record), slug))
        return found[:limit]

    def approve(
        self,
        principal: StaffPrincipal,
        enrollment_id: int,
        *,
        reason: str | None,
        username: str | None = None,
        staff_name: str | None = None,
        via: str | None = None,
        meta: RequestMeta | None = None,
    ) -> QueuedEnrollment:
        return self._decide(
            principal,
            Operation.ENROLLMENT_APPROVE,
            enrollment_id,
            reason=reason,
            username=username,
            staff_name=staff_name,
            via=via,
            meta=meta,
        )

    def reject(
        self,
        principal: StaffPrincipal,
        enrollment_id: int,
        *,
        reason: str | None,
        staff_name: str | None = None,
        via: str | None = None,
        meta: RequestMeta | None = None,
    ) -> QueuedEnrollment:
        return self._decide(
            principal,
            Operation.ENROLLMENT_REJECT,
            enrollment_id,
            reason=reason,
            staff_name=staff_name,
            via=via,
            meta=meta,
        )

    def _decide(
        self,
        principal: StaffPrincipal,
        operation: Operation,
        enrollment_id: int,
        *,
        reason: str | None,
        username: str | None = None,
        staff_name: str | None = None,
        via: str | None,
        meta: RequestMeta | None,
    ) -> QueuedEnrollment:
        authorize_role(principal, operation)
        review = self._review()
        try:
            # The decision, its account and its audit event commit together or not at all.
            with self._db.transaction() as uow:
                record = uow.enrollments.get(enrollment_id)
                slug = self._slug(uow, record) if record is not None else None
                if record is None:
                    raise NotFound(_no_enrollment(enrollment_id))
                if not self._visible(principal, slug):
                    raise OutOfScope(
                        _no_enrollment(enrollment_id),
                        principal=principal,
                        operation=operation,
                        portal=slug,
                    )
                if principal.portals is not None and slug is not None:
                    authorize(principal, operation, slug)
                facts = {
                    "operation": operation.value,
                    "staff_role": principal.role.value,
                    "portal": slug,
                }
                who = _reviewer(principal, staff_name)
                if operation is Operation.ENROLLMENT_APPROVE:
                    decision = review.approve(
                        uow,
                        enrollment_id,
                        staff=who,
                        reason=reason,
                        username=username,
                        via=via,
                        meta=meta,
                        facts=facts,
                    )
                else:
                    decision = review.reject(
                        uow,
                        enrollment_id,
                        staff=who,
                        reason=reason or "",
                        via=via,
                        meta=meta,
                        facts=facts,
                    )
                return QueuedEnrollment(review.describe(uow, decision.enrollment), slug)
        except ReviewError as exc:
            raise _staff_error(exc) from None
