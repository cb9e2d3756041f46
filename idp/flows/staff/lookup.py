"""Patient lookup and the patient's page for the help desk (issue 11 item 2,
"Patient lookup"; the ``patient_lookup`` operation of the support and admin roles).

A search takes exactly one kind of criterion: a user ID, an email, an MRN (optionally
at one portal), or a last name *with* a birth date (a name alone would let anyone
browse the patient list). Each search and each patient page viewed is on the trail
(actor, role, what kind of criterion, how many found; the patient viewed as subject),
in the transaction that read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from idp.audit.export import AuditRow
from idp.audit.search import AuditFilter
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import AccountRecord, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.usernames import username_key

from .access import authorize, staff_event
from .errors import InvalidInput, NotFound
from .inputs import check_username

MAX_RESULTS = 25
MAX_TEXT = 128
RECENT_EVENTS = 20


@dataclass(frozen=True, slots=True)
class LookupQuery:
    """One kind of criterion, validated (see :func:`parse_lookup`)."""

    kind: str  # "user_id" | "email" | "mrn" | "name_dob"
    username: str | None = None
    email: str | None = None
    mrn: str | None = None
    portal: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    dob: date | None = None


def _text(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{name}: at most {MAX_TEXT} printable characters")
    return value


def parse_lookup(
    *,
    user_id: str | None = None,
    email: str | None = None,
    mrn: str | None = None,
    portal: str | None = None,
    last_name: str | None = None,
    first_name: str | None = None,
    dob: str | None = None,
) -> LookupQuery:
    """Refuse mixed, partial or malformed criteria with a message naming the field."""
    given = {
        "user_id": _text("user ID", user_id),
        "email": _text("email", email),
        "mrn": _text("MRN", mrn),
        "name": _text("last name", last_name),
    }
    first = _text("first name", first_name)
    slug = _text("portal", portal)
    birth = _text("birth date", dob)
    kinds = [k for k, v in given.items() if v is not None]
    if len(kinds) != 1:
        raise InvalidInput(
            "search by one of: user ID, email, MRN, or last name with birth date"
            if kinds
            else "enter a user ID, an email, an MRN, or a last name with a birth date"
        )
    kind = kinds[0]
    if kind != "name" and (first or birth):
        raise InvalidInput("first name and birth date go with a last name only")
    if kind != "mrn" and slug:
        raise InvalidInput("a portal narrows an MRN search only")
    if kind == "name":
        if birth is None:
            raise InvalidInput("birth date: required with a name (YYYY-MM-DD)")
        try:
            born = date.fromisoformat(birth)
        except ValueError:
            raise InvalidInput(f"birth date: {birth!r} is not a date (YYYY-MM-DD)") from None
        return LookupQuery("name_dob", last_name=given["name"], first_name=first, dob=born)
    if kind == "user_id":
        return LookupQuery("user_id", username=check_username(given["user_id"] or ""))
    if kind == "email":
        return LookupQuery("email", email=given["email"])
    return LookupQuery("mrn", mrn=given["mrn"], portal=slug)


@dataclass(frozen=True, slots=True)
class PatientView:
    """Everything the patient page shows; read in one transaction."""

    account: AccountRecord
    locked_for: float | None  # seconds left of a temporary lock for unknown browsers
    factors: list[Any]
    links: list[Any]
    grants_given: list[Any]  # representatives acting for this patient
    grants_held: list[Any]  # patients this account acts for
    persons: dict[int, str]  # person id -> name, for the grants
    accounts: dict[int, str]  # account id -> user ID, for the grants
    portals: dict[int, str]  # portal id -> name
    recent: list[AuditRow]


class PatientLookup:
    """``services.staff.patients``: find a patient, read their page."""

    def __init__(
        self, *, db: Transactions, clock: Callable[[], datetime], locked_for: Callable[[str], Any]
    ) -> None:
        self._db = db
        self._clock = clock
        self._locked_for = locked_for  # the lockout's seconds left for a user ID key

    def find(
        self, principal: StaffPrincipal, query: LookupQuery, *, meta: RequestMeta
    ) -> list[AccountRecord]:
        authorize(principal, Operation.PATIENT_LOOKUP)
        with self._db.transaction() as uow:
            if query.portal is not None and uow.portals.by_slug(query.portal) is None:
                raise NotFound(f"no portal with slug {query.portal!r}")
            found: list[AccountRecord] = uow.patient_lookup.find(
                username=query.username,
                email=query.email,
                mrn=query.mrn,
                portal=query.portal,
                last_name=query.last_name,
                first_name=query.first_name,
                dob=query.dob,
                limit=MAX_RESULTS,
            )
            uow.audit.record(
                staff_event(
                    principal,
                    "patient_lookup",
                    Operation.PATIENT_LOOKUP,
                    meta=meta,
                    by=query.kind,
                    results=len(found),
                ),
                now=self._clock(),
            )
        return found

    def view(self, principal: StaffPrincipal, username: str, *, meta: RequestMeta) -> PatientView:
        authorize(principal, Operation.PATIENT_LOOKUP)
        username = check_username(username)
        with self._db.transaction() as uow:
            account: AccountRecord | None = uow.accounts.by_username(username)
            if account is None:
                raise NotFound(f"no account {username!r}")
            given = uow.proxy_grants.for_patient(account.person.id) if account.person else []
            held = uow.proxy_grants.for_representative(account.id)
            persons = {
                g.patient_person_id: self._person_name(uow, g.patient_person_id) for g in held
            }
            accounts = {
                g.representative_account_id: self._username(uow, g.representative_account_id)
                for g in given
            }
            page = uow.audit.search(
                AuditFilter(user=account.subject), limit=RECENT_EVENTS, after=None
            )
            view = PatientView(
                account=account,
                locked_for=self._locked_for(username_key(account.username)),
                factors=uow.credentials.listing(account.id),
                links=uow.portal_links.list_for_account(account.id),
                grants_given=given,
                grants_held=held,
                persons=persons,
                accounts=accounts,
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

    @staticmethod
    def _person_name(uow: Any, person_id: int) -> str:
        person = uow.patients.person(person_id)
        return f"{person.first_name} {person.last_name}" if person else f"person {person_id}"

    @staticmethod
    def _username(uow: Any, account_id: int) -> str:
        account = uow.accounts.by_id(account_id)
        return account.username if account else "(account removed)"
