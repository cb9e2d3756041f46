"""Who is staff: add, list and remove staff roles (``idp staff``, the console, the API).

Making someone staff is itself a staff operation (``staff_manage``, admin only) and is
audited like any other. The account must exist already: staff sign in through the same
provider as patients, with their own account and, always, a second factor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from idp.clock import Clock
from idp.i18n import translate
from idp.policies.staff_roles import (
    Operation,
    Role,
    StaffPrincipal,
    StaffRoleError,
    check_portals,
    parse_role,
)
from idp.records import RequestMeta, StaffRecord
from idp.store.interfaces import Transactions

from .access import authorize, staff_event
from .errors import Conflict, InvalidInput, NotFound
from .inputs import check_username


class StaffDirectory:
    def __init__(self, *, db: Transactions, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def add(
        self,
        principal: StaffPrincipal,
        *,
        username: str,
        role: str,
        portals: Iterable[str] = (),
        meta: RequestMeta | None = None,
    ) -> StaffRecord:
        """Give ``username`` a role (replacing any it had); practice needs its portals."""
        authorize(principal, Operation.STAFF_MANAGE)
        username = check_username(username)
        try:
            chosen = parse_role(role)
            scope = check_portals(chosen, frozenset(p.strip() for p in portals))
        except StaffRoleError as exc:
            raise InvalidInput(str(exc)) from None
        with self._db.transaction() as uow:
            account = uow.accounts.by_username(username)
            if account is None:
                raise NotFound(translate("no account {username}").format(username=repr(username)))
            if account.status == "closed":
                raise Conflict(
                    translate("account {username} is closed").format(username=account.username)
                )
            portal_ids = self._portal_ids(uow, scope or ())
            now = self._clock()
            before = uow.staff.by_account(account.id)
            record: StaffRecord = uow.staff.put(
                account.id, role=chosen.value, portal_ids=portal_ids, by=principal.actor, now=now
            )
            uow.audit.record(
                staff_event(
                    principal,
                    "staff_role_granted",
                    Operation.STAFF_MANAGE,
                    subject=account.subject,
                    meta=meta,
                    role=chosen.value,
                    portals=list(record.portals) or None,
                    previous_role=before.role if before else None,
                ),
                now=now,
            )
        return record

    def listing(self, principal: StaffPrincipal) -> list[StaffRecord]:
        authorize(principal, Operation.STAFF_LIST)
        with self._db.transaction() as uow:
            records: list[StaffRecord] = uow.staff.listing()
        return records

    def remove(
        self, principal: StaffPrincipal, *, username: str, meta: RequestMeta | None = None
    ) -> StaffRecord:
        authorize(principal, Operation.STAFF_MANAGE)
        username = check_username(username)
        with self._db.transaction() as uow:
            account = uow.accounts.by_username(username)
            staff: StaffRecord | None = (
                uow.staff.by_account(account.id) if account is not None else None
            )
            if account is None or staff is None:
                raise NotFound(translate("{username} is not staff").format(username=repr(username)))
            if principal.account_id == account.id:
                raise Conflict(translate("staff cannot remove their own role"))
            uow.staff.remove(account.id)
            uow.audit.record(
                staff_event(
                    principal,
                    "staff_role_removed",
                    Operation.STAFF_MANAGE,
                    subject=account.subject,
                    meta=meta,
                    role=staff.role,
                    portals=list(staff.portals) or None,
                ),
                now=self._clock(),
            )
        return staff

    def role_of(self, account_id: int) -> StaffRecord | None:
        """The staff record of a signed-in account (None: not staff)."""
        with self._db.transaction() as uow:
            record: StaffRecord | None = uow.staff.by_account(account_id)
        return record

    def by_username(self, username: str) -> StaffRecord | None:
        with self._db.transaction() as uow:
            account = uow.accounts.by_username(username)
            if account is None:
                return None
            record: StaffRecord | None = uow.staff.by_account(account.id)
            return record

    @staticmethod
    def _portal_ids(uow: Any, slugs: Iterable[str]) -> list[int]:
        ids = []
        for slug in sorted(slugs):
            portal = uow.portals.by_slug(slug)
            if portal is None:
                raise InvalidInput(translate("no portal with slug {slug}").format(slug=repr(slug)))
            ids.append(portal.id)
        return ids


__all__ = ["Role", "StaffDirectory"]
