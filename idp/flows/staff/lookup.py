"""Patient lookup for the help desk (issue 11 item 2, "Patient lookup"): by user ID,
email, name (with birth date), or a practice's MRN, and what staff see of each match.

Staff see a summary, never a secret: status and the lock's remaining time, the kinds of
factors enrolled (not the factors), the linked portals with their MRNs. The search
itself is audited (``patient_lookup``): looking someone up is access to their record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from idp.clock import Clock
from idp.i18n import translate
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import AccountRecord, RequestMeta
from idp.store.interfaces import Transactions
from idp.store.usernames import username_key

from .access import authorize, staff_event
from .errors import InvalidInput
from .inputs import MAX_NAME

MAX_RESULTS = 50


class LockReader(Protocol):
    def locked_for(self, key: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class PortalLinkSummary:
    portal: str
    patient_id: str
    status: str


@dataclass(frozen=True, slots=True)
class PatientSummary:
    username: str
    subject: str
    first_name: str | None
    last_name: str | None
    dob: date | None
    email: str | None
    email_verified: bool
    phone: str | None
    status: str  # active, pending, closed, ...
    locked_for: int | None  # seconds left of a sign-in lock, None when not locked
    factors: tuple[str, ...]
    portals: tuple[PortalLinkSummary, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "subject": self.subject,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "dob": self.dob.isoformat() if self.dob else None,
            "email": self.email,
            "email_verified": self.email_verified,
            "phone": self.phone,
            "status": self.status,
            "locked_for": self.locked_for,
            "factors": list(self.factors),
            "portals": [
                {"portal": p.portal, "patient_id": p.patient_id, "status": p.status}
                for p in self.portals
            ],
        }


@dataclass(frozen=True, slots=True)
class LookupQuery:
    username: str | None = None
    email: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    dob: date | None = None
    portal: str | None = None
    mrn: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in (
                ("username", self.username),
                ("email", self.email),
                ("last_name", self.last_name),
                ("first_name", self.first_name),
                ("dob", self.dob),
                ("portal", self.portal),
                ("mrn", self.mrn),
            )
            if v
        }


def parse_lookup(raw: dict[str, str | None]) -> LookupQuery:
    """Exactly one way of looking up, with what it needs; bad input raises InvalidInput."""
    values = {k: (v.strip() if isinstance(v, str) else None) or None for k, v in raw.items()}
    unknown = set(values) - set(LookupQuery.__dataclass_fields__)
    if unknown:
        raise InvalidInput(
            translate("unknown lookup field(s): {unknown}").format(
                unknown=", ".join(sorted(unknown))
            )
        )
    for name, value in values.items():
        if value is not None and (len(value) > 254 or not value.isprintable()):
            raise InvalidInput(
                translate("{name} must be 1-254 printable characters").format(name=name)
            )
    dob = None
    if values.get("dob"):
        try:
            dob = date.fromisoformat(str(values["dob"]))
        except ValueError:
            raise InvalidInput(translate("dob must be a date, YYYY-MM-DD")) from None
    query = LookupQuery(**{**values, "dob": dob})  # type: ignore[arg-type]
    ways = [
        bool(query.username),
        bool(query.email),
        bool(query.last_name),
        bool(query.portal or query.mrn),
    ]
    if sum(ways) != 1:
        raise InvalidInput(
            translate(
                "look up by exactly one of: username; email; last_name with dob (and "
                "first_name); portal and mrn"
            )
        )
    if (query.first_name or query.dob) and not query.last_name:
        raise InvalidInput(translate("first_name and dob go with last_name"))
    if query.last_name and query.dob is None:
        # A last name alone lists strangers who share it; the birth date narrows the
        # search to the caller's record (issue 11: name lookup needs the birth date).
        raise InvalidInput(translate("a lookup by last name needs the birth date (dob) too"))
    if bool(query.portal) != bool(query.mrn):
        raise InvalidInput(translate("portal and mrn go together"))
    if query.username and len(query.username) > MAX_NAME:
        raise InvalidInput(
            translate("a user ID is at most {MAX_NAME} characters").format(MAX_NAME=MAX_NAME)
        )
    return query


class PatientLookup:
    def __init__(self, *, db: Transactions, clock: Clock, locks: LockReader) -> None:
        self._db = db
        self._clock = clock
        self._locks = locks

    def find(
        self, principal: StaffPrincipal, query: LookupQuery, *, meta: RequestMeta | None = None
    ) -> list[PatientSummary]:
        authorize(principal, Operation.PATIENT_LOOKUP)
        with self._db.transaction() as uow:
            accounts = self._accounts(uow, query)
            found = [self._summary(uow, a) for a in accounts[:MAX_RESULTS]]
            uow.audit.record(
                staff_event(
                    principal,
                    "patient_lookup",
                    Operation.PATIENT_LOOKUP,
                    meta=meta,
                    query=query.as_dict(),
                    results=len(found),
                ),
                now=self._clock(),
            )
        return found

    @staticmethod
    def _accounts(uow: Any, query: LookupQuery) -> list[AccountRecord]:
        if query.username:
            one = uow.accounts.by_username(query.username)
            return [one] if one is not None else []
        if query.email:
            return list(uow.accounts.by_email(query.email))
        if query.last_name:
            return list(
                uow.accounts.by_name(
                    query.last_name,
                    first_name=query.first_name,
                    dob=query.dob,
                    limit=MAX_RESULTS,
                )
            )
        portal = uow.portals.by_slug(query.portal or "")
        link = uow.portal_links.by_patient(portal.id, query.mrn) if portal else None
        if link is None or link.account_id is None:
            return []
        account = uow.accounts.by_id(link.account_id)
        return [account] if account is not None else []

    def _summary(self, uow: Any, account: AccountRecord) -> PatientSummary:
        person = account.person
        left = self._locks.locked_for(username_key(account.username))
        links = uow.portal_links.list_for_account(account.id)
        return PatientSummary(
            username=account.username,
            subject=account.subject,
            first_name=person.first_name if person else None,
            last_name=person.last_name if person else None,
            dob=person.dob if person else None,
            email=account.email,
            email_verified=account.email_verified,
            phone=account.phone,
            status=account.status,
            locked_for=int(left) + 1 if left else None,
            factors=tuple(sorted(str(k) for k in uow.credentials.kinds(account.id))),
            portals=tuple(
                PortalLinkSummary(portal=li.portal_slug, patient_id=li.patient_id, status=li.status)
                for li in links
            ),
        )
