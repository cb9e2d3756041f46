"""A child's record is claimed by the child's own account (issue 10 item 1, remainder).

A young child is a Person with the practice's record and no account; parents act for
them through proxy grants that point at that person. When the child is old enough for
an account of their own (from the practice's teen age), staff who checked the teen's
identity link the teen's new account to that same record: the link gains the account
and the account takes the person, so grants, their history and confidential flags stay
exactly where they were (nothing is copied, nothing re-granted).

Refused, with nothing written:
* the record is not a person's without an account (``not_a_person_record``), or unknown;
* the account is closed, already has a record at the practice, or is the patient of
  another record or grant (``account_has_other_record``): one person, one account;
* its date of birth differs from the record's (``dob_mismatch``);
* the patient is younger than the practice's teen age (``patient_under_teen_age``);
* the account is a representative of this person, or its email or phone is a live
  representative's (``contact_shared_with_representative``): a teen's own account can
  never be opened with a parent's credentials, and a reset link to the parent's mailbox
  would be exactly that (standards.md row 35).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from idp.clock import Clock
from idp.policies.proxy import age_on, local_date
from idp.records import AccountRecord, AuditEntry, PersonRecord, PortalRecord, RequestMeta
from idp.store.durable import Database, UnitOfWork

from .patients import ProxyRefusal, check_patient_id, check_text
from .proxy_terms import practice_rules
from .proxy_views import contacts_match

if TYPE_CHECKING:
    from idp.services import Services

_LIVE = ("pending_cosignature", "pending_approval", "active")


class PersonClaimFlow:
    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    def from_services(cls, services: Services) -> PersonClaimFlow:
        return cls(db=services.db, clock=services.clock)

    def claim_by_staff(
        self, portal_slug: str, *, patient_id: str, username: str, staff: str, meta: RequestMeta
    ) -> int:
        """Link ``username``'s account to the person's record; returns how many grants
        now protect that account's record."""
        patient_id = check_patient_id(patient_id)
        actor = "staff:" + check_text(staff, "staff", 64)
        now = self._clock()
        with self._db.transaction() as uow:
            portal = uow.portals.by_slug(portal_slug) if len(portal_slug) <= 64 else None
            if portal is None:
                raise ProxyRefusal("unknown_portal", 404, "portal")
            link = uow.portal_links.by_patient(portal.id, patient_id)
            if link is None:
                raise ProxyRefusal("unknown_patient", 404, "patient_id")
            if link.account_id is not None or link.person_id is None:
                raise ProxyRefusal("not_a_person_record", 409, "patient_id")
            account = uow.accounts.by_username(username) if len(username) <= 64 else None
            if account is None or not account.is_active:
                raise ProxyRefusal("unknown_account", 404, "username")
            person = uow.patients.person(link.person_id)
            self._check(uow, portal, account, person, now)
            person_id = uow.patients.claim(portal.id, patient_id, account.id, now=now)
            if person_id is None:  # another claim came first
                raise ProxyRefusal("not_a_person_record", 409, "patient_id")
            grants = [g for g in uow.proxy_grants.for_patient(person_id) if g.status in _LIVE]
            uow.audit.record(
                AuditEntry(
                    type="patient_claimed",
                    outcome="success",
                    actor=actor,
                    subject=account.subject,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                    # The MRN stays out of the trail: the link row holds it.
                    details={"portal": portal.slug, "live_grants": len(grants)},
                ),
                now=now,
            )
            return len(grants)

    @staticmethod
    def _check(
        uow: UnitOfWork,
        portal: PortalRecord,
        account: AccountRecord,
        person: PersonRecord | None,
        now: datetime,
    ) -> None:
        assert person is not None and person.dob is not None
        if any(
            link.portal_id == portal.id for link in uow.portal_links.list_for_account(account.id)
        ):
            raise ProxyRefusal("account_has_other_record", 409, "username")
        own = account.person
        if own is not None and own.id != person.id and uow.proxy_grants.for_patient(own.id):
            raise ProxyRefusal("account_has_other_record", 409, "username")
        if own is None or own.dob is None or own.dob != person.dob:
            raise ProxyRefusal("dob_mismatch", 409, "username")
        rules = practice_rules(portal)
        if age_on(person.dob, local_date(now, rules)) < rules.teen_age:
            raise ProxyRefusal("patient_under_teen_age", 409, "patient_id")
        for grant in uow.proxy_grants.for_patient(person.id):
            if grant.status not in _LIVE:
                continue
            rep = uow.accounts.by_id(grant.representative_account_id)
            if rep is None:
                continue
            if rep.id == account.id or contacts_match(
                account.email, account.phone, rep.email, rep.phone
            ):
                raise ProxyRefusal("contact_shared_with_representative", 409, "username")
