"""The patient's page in the staff console (issue 11 item 2, "Patient lookup"): status
and lock, factors, linked portals, proxy grants both ways and recent activity, read in
one transaction under the ``patient_lookup`` operation, and audited as
``patient_viewed`` with the patient as subject (opening a record is access to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.audit.export import AuditRow
from idp.audit.search import AuditFilter
from idp.clock import Clock
from idp.i18n import translate
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import AccountRecord, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.usernames import username_key

from .access import authorize, staff_event
from .errors import NotFound
from .inputs import check_username
from .lookup import LockReader

RECENT_EVENTS = 20


@dataclass(frozen=True, slots=True)
class PatientView:
    """Everything the patient page shows."""

    account: AccountRecord
    locked_for: float | None  # seconds left of a temporary lock for unknown browsers
    factors: list[Any]
    links: list[Any]
    grants_given: list[Any]  # representatives acting for this patient
    grants_held: list[Any]  # patients this account acts for
    persons: dict[int, str]  # person id -> name, for the grants held
    accounts: dict[int, str]  # account id -> user ID, for the grants given
    portals: dict[int, str]  # portal id -> name
    recent: list[AuditRow]


class PatientRecords:
    """``services.staff.records``: one patient's page."""

    def __init__(self, *, db: Transactions, clock: Clock, locks: LockReader) -> None:
        self._db = db
        self._clock = clock
        self._locks = locks

    def view(
        self, principal: StaffPrincipal, username: str, *, meta: RequestMeta | None = None
    ) -> PatientView:
        authorize(principal, Operation.PATIENT_LOOKUP)
        username = check_username(username)
        with self._db.transaction() as uow:
            account: AccountRecord | None = uow.accounts.by_username(username)
            if account is None:
                raise NotFound(translate("no account {username}").format(username=repr(username)))
            given = uow.proxy_grants.for_patient(account.person.id) if account.person else []
            held = uow.proxy_grants.for_representative(account.id)
            page = uow.audit.search(
                AuditFilter(user=account.subject), limit=RECENT_EVENTS, after=None
            )
            view = PatientView(
                account=account,
                locked_for=self._locks.locked_for(username_key(account.username)),
                factors=uow.credentials.listing(account.id),
                links=uow.portal_links.list_for_account(account.id),
                grants_given=given,
                grants_held=held,
                persons={g.patient_person_id: _person_name(uow, g.patient_person_id) for g in held},
                accounts={
                    g.representative_account_id: _username(uow, g.representative_account_id)
                    for g in given
                },
                portals={p.id: p.name for p in uow.portals.list()},
                recent=page.rows,
            )
            uow.audit.record(
                staff_event(
                    principal,
                    "patient_viewed",
                    Operation.PATIENT_LOOKUP,
                    subject=account.subject,
                    meta=meta,
                ),
                now=self._clock(),
            )
        return view


def _person_name(uow: Any, person_id: int) -> str:
    person = uow.patients.person(person_id)
    return f"{person.first_name} {person.last_name}" if person else f"person {person_id}"


def _username(uow: Any, account_id: int) -> str:
    account = uow.accounts.by_id(account_id)
    return account.username if account else "(account removed)"
