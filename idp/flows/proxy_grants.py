"""Proxy grants: staff grant, approve and revoke; either side revokes; grants expire.

Every decision about who may act for whom comes from :mod:`idp.policies.proxy`, fed with
the grant, both birth dates and the patient's confidential flags, at the moment asked
(no nightly job keeps a stored level right: none is stored). This module fetches those
facts, applies the decision, and for every change writes a history row, an audit event
(actor: who did it; subject: the patient) and an email to both sides, all in the one
transaction of the change (security invariant 9), so a refusal changes nothing.

Who may do what (issue 10 items 2, 3 and 8):

* staff, on the practice's signed form (``evidence``): a parent or legal guardian for a
  minor; for a teen, full access only with the teen's signature (recorded now, or later
  by :meth:`approve` / :meth:`cosign_by_teen`), else the grant waits in
  ``pending_cosignature``; for an adult only with a guardianship or POA document on file;
* the adult patient, online: any adult representative, for ``adult_grant_months``
  (18 by default) from today;
* the teen, from their own account: co-signs a pending request (staff then approve);
* either side (representative or patient) and staff: revoke at any time;
* :meth:`expire_due` (``idp proxy expire``, periodic and idempotent): marks ``expired``
  every active grant the policy says has ended (majority, adult period, end date).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import Notifier
from idp.policies.proxy import (
    GrantKind,
    GrantStatus,
    ProxyDecision,
    ProxyRules,
    Relationship,
    age_on,
    check_proxy_access,
    local_date,
)
from idp.records import AccountRecord, PortalRecord, ProxyAct, RecordChoice, RequestMeta
from idp.store.durable import Database, UnitOfWork
from idp.store.patients import PatientRecord
from idp.store.proxy_grants import DuplicateGrantError, NewGrant, ProxyGrantRecord

from .patients import ProxyRefusal, check_patient_id, check_text
from .proxy_terms import practice_rules
from .proxy_views import (
    GrantView,
    decide_grant,
    grant_facts,
    grant_view,
    notify_change,
    record_change,
)

if TYPE_CHECKING:
    from idp.services import Services

LIVE = (GrantStatus.PENDING_COSIGNATURE, GrantStatus.PENDING_APPROVAL, GrantStatus.ACTIVE)
PENDING = (GrantStatus.PENDING_COSIGNATURE, GrantStatus.PENDING_APPROVAL)
# Policy reasons that mean the grant has run its course (not a refusal of a new one).
ENDED_REASONS = frozenset({"majority_reached", "adult_grant_expired", "grant_ended"})
MAX_EVIDENCE = 200
# A FHIR resource id (FHIR R4 "id" datatype): the practice's RelatedPerson for fhirUser.
FHIR_ID = re.compile(r"[A-Za-z0-9.-]{1,64}")


@dataclass(frozen=True, slots=True)
class _Parties:
    patient: PatientRecord
    representative: AccountRecord
    # Both known: _parties refuses a patient or representative without one.
    patient_dob: date
    representative_dob: date


class ProxyGrantFlow:
    def __init__(
        self,
        *,
        db: Database,
        notifier: Notifier,
        clock: Clock,
        rules: ProxyRules | None = None,
        issuer: str = "",
    ) -> None:
        self._db = db
        self._notifier = notifier
        self._clock = clock
        self._rules = rules or ProxyRules()
        self._issuer = issuer.rstrip("/")

    @classmethod
    def from_services(cls, services: Services) -> ProxyGrantFlow:
        return cls(
            db=services.db,
            notifier=services.notifier,
            clock=services.clock,
            issuer=services.settings.issuer,
        )

    @property
    def rules(self) -> ProxyRules:
        """The deployment's base rules; each practice's terms replace its ages and zone."""
        return self._rules

    def rules_for(self, portal: PortalRecord) -> ProxyRules:
        return practice_rules(portal, self._rules)

    @contextmanager
    def _tx(self) -> Iterator[UnitOfWork]:
        with self._db.transaction() as uow:
            yield uow

    # --- finding the parties ---------------------------------------------------------------

    def _parties(
        self, uow: UnitOfWork, portal: PortalRecord, patient_id: str, representative: str
    ) -> _Parties:
        patient = uow.patients.find(portal, patient_id)
        if patient is None or not patient.is_active or patient.person is None:
            raise ProxyRefusal("unknown_patient", 404, "patient_id")
        if patient.person.dob is None:
            raise ProxyRefusal("patient_birth_date_unknown", 409, "patient_id")
        rep = uow.accounts.by_username(representative) if len(representative) <= 64 else None
        if rep is None or not rep.is_active:
            raise ProxyRefusal("unknown_representative", 404, "representative")
        self._check_representative(patient, rep)
        assert rep.person is not None and rep.person.dob is not None  # checked just above
        return _Parties(patient, rep, patient.person.dob, rep.person.dob)

    @staticmethod
    def _check_representative(patient: PatientRecord, rep: AccountRecord) -> None:
        if rep.person is None or rep.person.dob is None:
            raise ProxyRefusal("representative_birth_date_unknown", 409, "representative")
        assert patient.person is not None
        if rep.id == patient.account_id or rep.person.id == patient.person.id:
            # "Every patient must have their own account": nobody is their own proxy.
            raise ProxyRefusal("representative_is_patient", 400, "representative")

    # --- staff -----------------------------------------------------------------------------

    def grant_by_staff(
        self,
        portal: PortalRecord,
        *,
        patient_id: str,
        representative: str,
        relationship: str,
        evidence: str,
        staff: str,
        actor: str,
        meta: RequestMeta,
        teen_signed: bool = False,
        full_access: bool = False,
        legal_document: bool = False,
        ends_on: date | None = None,
        related_person: str | None = None,
    ) -> GrantView:
        """A grant made by staff on the practice's signed form (reference ``evidence``).

        A child's grant is active at once; a teen's is active and limited, or with
        ``full_access`` waits for the teen's signature unless ``teen_signed`` (staff hold
        the form the teen signed); an adult's needs ``legal_document``.
        """
        patient_id = check_patient_id(patient_id)
        staff_actor = "staff:" + check_text(staff, "staff", 64)
        evidence = check_text(evidence, "evidence", MAX_EVIDENCE)
        try:
            kind = Relationship(relationship)
        except ValueError:
            raise ProxyRefusal("relationship_invalid", 400, "relationship") from None
        now = self._clock()
        rules = practice_rules(portal, self._rules)
        today = local_date(now, rules)
        if ends_on is not None and ends_on <= today:
            raise ProxyRefusal("ends_on_not_future", 400, "ends_on")
        if related_person is not None and not FHIR_ID.fullmatch(related_person):
            raise ProxyRefusal("related_person_invalid", 400, "related_person")
        full_access = full_access or teen_signed
        with self._tx() as uow:
            parties = self._parties(uow, portal, patient_id, representative)
            assert parties.patient.person is not None and parties.patient.person.dob is not None
            teen = rules.teen_age <= age_on(parties.patient.person.dob, today) < rules.majority_age
            status = GrantStatus.ACTIVE
            if teen and full_access and not teen_signed:
                status = GrantStatus.PENDING_COSIGNATURE
            new = NewGrant(
                portal_id=portal.id,
                representative_account_id=parties.representative.id,
                patient_person_id=parties.patient.person.id,
                relationship=kind.value,
                kind=GrantKind.STAFF.value,
                status=status.value,
                created_by=staff_actor,
                starts_on=today,
                full_access_requested=full_access,
                teen_cosigned_by=staff_actor if teen_signed else None,
                legal_document=legal_document,
                evidence_ref=evidence,
                approved_by=staff_actor if status is GrantStatus.ACTIVE else None,
                ends_on=ends_on,
                related_person=related_person,
            )
            # Judge the grant as it would stand, active, before storing anything.
            probe = self._probe(new, now)
            decision = check_proxy_access(
                grant_facts(
                    probe,
                    parties.patient_dob,
                    parties.representative_dob,
                    set(),
                ),
                rules,
                now,
            )
            if not decision.allowed:
                raise ProxyRefusal(_refusal(decision), 400, "representative")
            grant = self._add(uow, new, now)
            view = grant_view(uow, self._rules, grant, now)
            record_change(uow, meta, now, "proxy_granted", view, actor=actor, staff=staff_actor)
            notify_change(
                uow,
                self._notifier,
                view,
                issuer=self._issuer,
                now=now,
                change="granted" if view.grant.status == "active" else "pending",
            )
            return view

    @staticmethod
    def _probe(new: NewGrant, now: datetime) -> ProxyGrantRecord:
        return ProxyGrantRecord(
            id=0,
            portal_id=new.portal_id,
            representative_account_id=new.representative_account_id,
            patient_person_id=new.patient_person_id,
            relationship=new.relationship,
            kind=new.kind,
            status=GrantStatus.ACTIVE.value,
            full_access_requested=new.full_access_requested,
            teen_cosigned_at=now if new.teen_cosigned_by else None,
            teen_cosigned_by=new.teen_cosigned_by,
            legal_document=new.legal_document,
            evidence_ref=new.evidence_ref,
            created_by=new.created_by,
            approved_by=new.approved_by,
            approved_at=now if new.approved_by else None,
            starts_on=new.starts_on,
            ends_on=new.ends_on,
            created_at=now,
            updated_at=now,
            ended_at=None,
            ended_by=None,
        )

    def _add(self, uow: UnitOfWork, new: NewGrant, now: datetime) -> ProxyGrantRecord:
        if uow.proxy_grants.live(
            new.portal_id, new.representative_account_id, new.patient_person_id
        ):
            raise ProxyRefusal("grant_exists", 409, "representative")
        try:
            return uow.proxy_grants.add(new, now=now)
        except DuplicateGrantError:  # a concurrent grant won; this transaction rolls back
            raise ProxyRefusal("grant_exists", 409, "representative") from None

    def approve(
        self,
        grant_id: int,
        *,
        staff: str,
        actor: str,
        meta: RequestMeta,
        teen_signed: bool = False,
        portal_id: int | None = None,
        facts: dict[str, Any] | None = None,
    ) -> GrantView:
        """Staff approval: of a pending grant, or of full access for a teen who signed.

        ``facts`` (a staff operation's role, operation and reason) join the audit event.

        ``pending_cosignature`` needs ``teen_signed`` (staff record the teen's signature);
        ``pending_approval`` (the teen signed online) needs only the approval; an active
        grant with ``teen_signed`` becomes full teen access.
        """
        staff_actor = "staff:" + check_text(staff, "staff", 64)
        now = self._clock()
        with self._tx() as uow:
            grant = self._find(uow, grant_id, portal_id)
            changes: dict[str, Any] = {"approved_by": staff_actor, "approved_at": now}
            if teen_signed:
                changes.update(
                    teen_cosigned_at=now, teen_cosigned_by=staff_actor, full_access_requested=True
                )
            if grant.status == GrantStatus.PENDING_COSIGNATURE and not teen_signed:
                raise ProxyRefusal("teen_signature_missing", 409, "teen_signed")
            if grant.status == GrantStatus.ACTIVE and not teen_signed:
                raise ProxyRefusal("grant_not_pending", 409, "grant")
            if grant.status not in LIVE:
                raise ProxyRefusal("grant_not_pending", 409, "grant")
            if grant.status == GrantStatus.PENDING_APPROVAL:
                changes.pop("teen_cosigned_at", None)
                changes.pop("teen_cosigned_by", None)
            moved = uow.proxy_grants.move(
                grant.id,
                from_statuses=[grant.status],
                to_status=GrantStatus.ACTIVE.value,
                action="approved",
                actor=staff_actor,
                now=now,
                reason="teen_signed" if teen_signed else None,
                **changes,
            )
            if moved is None:
                raise ProxyRefusal("grant_changed", 409, "grant")
            view = grant_view(uow, self._rules, moved, now)
            if not view.decision.allowed and grant.status != GrantStatus.ACTIVE:
                raise ProxyRefusal(_refusal(view.decision), 409, "grant")
            record_change(
                uow,
                meta,
                now,
                "proxy_approved",
                view,
                actor=actor,
                staff=staff_actor,
                **(facts or {}),
            )
            notify_change(
                uow, self._notifier, view, issuer=self._issuer, now=now, change="approved"
            )
            return view

    def revoke(
        self,
        grant_id: int,
        *,
        actor: str,
        meta: RequestMeta,
        reason: str,
        by_account: AccountRecord | None = None,
        portal_id: int | None = None,
        facts: dict[str, Any] | None = None,
    ) -> GrantView:
        """End a grant now: staff (``actor`` staff:…), or either side (``by_account``).

        An account that is neither the representative nor the patient gets the same
        ``not_found`` as a grant that does not exist.
        """
        reason = check_text(reason, "reason", 500)
        now = self._clock()
        with self._tx() as uow:
            grant = self._find(uow, grant_id, portal_id)
            if by_account is not None:
                actor = by_account.subject
                if not self._is_party(uow, grant, by_account):
                    raise ProxyRefusal("not_found", 404, "grant")
            if grant.status not in LIVE:
                raise ProxyRefusal("grant_not_live", 409, "grant")
            moved = uow.proxy_grants.move(
                grant.id,
                from_statuses=LIVE,
                to_status=GrantStatus.REVOKED.value,
                action="revoked",
                actor=actor,
                now=now,
                reason=reason,
                ended_at=now,
                ended_by=actor,
            )
            if moved is None:
                raise ProxyRefusal("grant_changed", 409, "grant")
            view = grant_view(uow, self._rules, moved, now)
            record_change(
                uow, meta, now, "proxy_revoked", view, actor=actor, reason=reason, **(facts or {})
            )
            notify_change(uow, self._notifier, view, issuer=self._issuer, now=now, change="revoked")
            return view

    @staticmethod
    def _is_party(uow: UnitOfWork, grant: ProxyGrantRecord, account: AccountRecord) -> bool:
        if account.id == grant.representative_account_id:
            return True
        if account.person is not None and account.person.id == grant.patient_person_id:
            return True
        return account.id in uow.patients.accounts_of_person(grant.patient_person_id)

    def _find(self, uow: UnitOfWork, grant_id: int, portal_id: int | None) -> ProxyGrantRecord:
        grant = uow.proxy_grants.by_id(grant_id) if 0 < grant_id < 2**31 else None
        if grant is None or (portal_id is not None and grant.portal_id != portal_id):
            raise ProxyRefusal("not_found", 404, "grant")
        return grant

    # --- the patient and the teen, online ----------------------------------------------------

    def grant_by_patient(
        self,
        patient_account: AccountRecord,
        portal: PortalRecord,
        *,
        representative: str,
        relationship: str,
        meta: RequestMeta,
        via: str | None = None,
    ) -> GrantView:
        """An adult patient's own grant: active now, for ``adult_grant_months``."""
        with self._tx() as uow:
            return self.add_patient_grant(
                uow,
                patient_account,
                portal,
                representative=representative,
                relationship=relationship,
                meta=meta,
                via=via,
            )

    def add_patient_grant(
        self,
        uow: UnitOfWork,
        patient_account: AccountRecord,
        portal: PortalRecord,
        *,
        representative: str,
        relationship: str,
        meta: RequestMeta,
        via: str | None = None,
    ) -> GrantView:
        """:meth:`grant_by_patient` inside the caller's transaction (an accepted
        invitation consumes its link in the same one, so both happen or neither)."""
        try:
            kind = Relationship(relationship)
        except ValueError:
            raise ProxyRefusal("relationship_invalid", 400, "relationship") from None
        now = self._clock()
        rules = practice_rules(portal, self._rules)
        today = local_date(now, rules)
        link = uow.portal_links.active_for(patient_account.id, portal.id)
        if link is None:
            raise ProxyRefusal("unknown_patient", 404, "patient_id")
        parties = self._parties(uow, portal, link.patient_id, representative)
        person = parties.patient.person
        assert person is not None and person.dob is not None
        if age_on(person.dob, today) < rules.majority_age:
            raise ProxyRefusal("patient_not_adult", 403, "patient_id")
        new = NewGrant(
            portal_id=portal.id,
            representative_account_id=parties.representative.id,
            patient_person_id=person.id,
            relationship=kind.value,
            kind=GrantKind.PATIENT.value,
            status=GrantStatus.ACTIVE.value,
            created_by=patient_account.subject,
            starts_on=today,
        )
        decision = check_proxy_access(
            grant_facts(
                self._probe(new, now),
                parties.patient_dob,
                parties.representative_dob,
                set(),
            ),
            rules,
            now,
        )
        if not decision.allowed:
            raise ProxyRefusal(_refusal(decision), 400, "representative")
        grant = self._add(uow, new, now)
        view = grant_view(uow, self._rules, grant, now)
        extra = {"via": via} if via else {}
        record_change(uow, meta, now, "proxy_granted", view, actor=patient_account.subject, **extra)
        notify_change(uow, self._notifier, view, issuer=self._issuer, now=now, change="granted")
        return view

    def cosign_by_teen(
        self, grant_id: int, teen_account: AccountRecord, *, meta: RequestMeta
    ) -> GrantView:
        """The teen signs from their own account; staff approve next."""
        now = self._clock()
        with self._tx() as uow:
            grant = self._find(uow, grant_id, None)
            if grant.representative_account_id == teen_account.id or not self._is_party(
                uow, grant, teen_account
            ):
                raise ProxyRefusal("not_found", 404, "grant")
            moved = uow.proxy_grants.move(
                grant.id,
                from_statuses=[GrantStatus.PENDING_COSIGNATURE.value],
                to_status=GrantStatus.PENDING_APPROVAL.value,
                action="cosigned",
                actor=teen_account.subject,
                now=now,
                teen_cosigned_at=now,
                teen_cosigned_by=f"account:{teen_account.subject}",
            )
            if moved is None:
                raise ProxyRefusal("grant_not_pending", 409, "grant")
            view = grant_view(uow, self._rules, moved, now)
            record_change(uow, meta, now, "proxy_cosigned", view, actor=teen_account.subject)
            notify_change(uow, self._notifier, view, issuer=self._issuer, now=now, change="pending")
            return view

    def renew_by_patient(
        self, grant_id: int, patient_account: AccountRecord, *, meta: RequestMeta
    ) -> GrantView:
        """The adult patient grants (again): a new ``adult_grant_months`` from today.

        Renews the patient's own grant before it lapses, and is also how a patient who
        has come of age keeps the parent a minor's grant named (issue 10 item 3: "the
        grant ends unless the adult patient grants it again"): the grant becomes the
        patient's own, on the same row, so its history stays one story. Only the
        patient may do it, only as an adult, only for a grant still ``active``.
        """
        now = self._clock()
        with self._tx() as uow:
            grant = self._find(uow, grant_id, None)
            is_patient = grant.representative_account_id != patient_account.id and (
                self._is_party(uow, grant, patient_account)
            )
            if not is_patient:
                raise ProxyRefusal("not_found", 404, "grant")
            rules = practice_rules(uow.patients.portal(grant.portal_id), self._rules)
            person = uow.patients.person(grant.patient_person_id)
            today = local_date(now, rules)
            if person is None or person.dob is None:
                raise ProxyRefusal("patient_birth_date_unknown", 409, "grant")
            if age_on(person.dob, today) < rules.majority_age:
                raise ProxyRefusal("patient_not_adult", 403, "grant")
            moved = uow.proxy_grants.move(
                grant.id,
                from_statuses=[GrantStatus.ACTIVE.value],
                to_status=GrantStatus.ACTIVE.value,
                action="renewed",
                actor=patient_account.subject,
                now=now,
                kind=GrantKind.PATIENT.value,
                starts_on=today,
            )
            if moved is None:
                raise ProxyRefusal("grant_not_live", 409, "grant")
            view = grant_view(uow, self._rules, moved, now)
            if not view.decision.allowed:  # e.g. the representative no longer qualifies
                raise ProxyRefusal(_refusal(view.decision), 409, "grant")
            record_change(uow, meta, now, "proxy_renewed", view, actor=patient_account.subject)
            notify_change(uow, self._notifier, view, issuer=self._issuer, now=now, change="renewed")
            return view

    # --- expiry ------------------------------------------------------------------------------

    def expire_due(self, *, actor: str = "system", meta: RequestMeta | None = None) -> int:
        """Mark ``expired`` every active grant the policy says has ended; how many.

        Safe to run at any time and as often as wanted: each grant moves once (the
        conditional UPDATE), and access was already refused from the moment it ended.
        """
        now = self._clock()
        meta = meta or RequestMeta()
        count = 0
        with self._tx() as uow:
            ids = [g.id for g in uow.proxy_grants.active()]
        for grant_id in ids:
            with self._tx() as uow:
                grant = uow.proxy_grants.by_id(grant_id)
                if grant is None or grant.status != GrantStatus.ACTIVE:
                    continue
                decision = decide_grant(uow, self._rules, grant, now)
                ended = ENDED_REASONS & set(decision.reasons)
                if decision.allowed or not ended:
                    continue
                moved = uow.proxy_grants.move(
                    grant.id,
                    from_statuses=[GrantStatus.ACTIVE.value],
                    to_status=GrantStatus.EXPIRED.value,
                    action="expired",
                    actor=actor,
                    now=now,
                    reason=sorted(ended)[0],
                    ended_at=now,
                    ended_by=actor,
                )
                if moved is None:
                    continue
                view = grant_view(uow, self._rules, moved, now)
                record_change(
                    uow, meta, now, "proxy_expired", view, actor=actor, reason=sorted(ended)[0]
                )
                notify_change(
                    uow, self._notifier, view, issuer=self._issuer, now=now, change="expired"
                )
                count += 1
        return count

    # --- reading -----------------------------------------------------------------------------

    def get(self, grant_id: int, *, portal_id: int | None = None) -> GrantView:
        with self._tx() as uow:
            return grant_view(uow, self._rules, self._find(uow, grant_id, portal_id), self._clock())

    def list_for_portal(
        self, portal: PortalRecord, *, patient_id: str | None = None
    ) -> list[GrantView]:
        now = self._clock()
        with self._tx() as uow:
            person_id = None
            if patient_id is not None:
                patient = uow.patients.find(portal, check_patient_id(patient_id))
                if patient is None or patient.person is None:
                    raise ProxyRefusal("unknown_patient", 404, "patient_id")
                person_id = patient.person.id
            grants = uow.proxy_grants.for_portal(portal.id, patient_person_id=person_id)
            return [grant_view(uow, self._rules, g, now) for g in grants]

    def list_for_account(self, account: AccountRecord) -> tuple[list[GrantView], list[GrantView]]:
        """(grants to others for this account's record, grants this account holds)."""
        now = self._clock()
        with self._tx() as uow:
            mine: list[ProxyGrantRecord] = []
            if account.person is not None:
                mine = uow.proxy_grants.for_patient(account.person.id)
            held = uow.proxy_grants.for_representative(account.id)
            return [grant_view(uow, self._rules, g, now) for g in mine], [
                grant_view(uow, self._rules, g, now) for g in held
            ]

    def access(
        self,
        *,
        representative_account_id: int,
        patient_person_id: int,
        portal_id: int,
        at: datetime | None = None,
    ) -> ProxyDecision | None:
        """What the representative may see of the patient's record at ``at`` (now):
        the policy's decision for their live grant, confidential flags removed; None
        without a live grant."""
        with self._tx() as uow:
            grant = uow.proxy_grants.live(portal_id, representative_account_id, patient_person_id)
            if grant is None:
                return None
            return decide_grant(uow, self._rules, grant, at or self._clock())

    # --- signing in as a representative (issue 10 items 5 and 6) -----------------------------

    def record_choices(
        self, account_id: int, portal_id: int, at: datetime | None = None
    ) -> list[RecordChoice]:
        """Whose record the account may open at the practice at ``at`` (now): its own
        (an active link), then every patient a live grant lets it act for, by name.

        Each grant is judged by :func:`decide_grant` at that moment, so a grant that has
        ended (majority, expiry, revocation) or whose level is NONE offers no choice.
        """
        at = at or self._clock()
        with self._tx() as uow:
            choices: list[RecordChoice] = []
            link = uow.portal_links.active_for(account_id, portal_id)
            account = uow.accounts.by_id(account_id)
            if link is not None and account is not None:
                choices.append(RecordChoice(patient_id=link.patient_id, name=_name_of(account)))
            others = []
            for grant in uow.proxy_grants.for_representative(account_id):
                if grant.portal_id != portal_id or grant.status != GrantStatus.ACTIVE:
                    continue
                act = self._act(uow, grant, at)
                person = uow.patients.person(grant.patient_person_id)
                if act is None or person is None:
                    continue
                others.append(
                    RecordChoice(
                        patient_id=act.patient_id,
                        name=f"{person.first_name} {person.last_name}",
                        person_id=act.person_id,
                        relationship=act.relationship,
                        level=act.level,
                        audit_subject=act.audit_subject,
                    )
                )
            return choices + sorted(others, key=lambda c: (c.name.casefold(), c.patient_id))

    def act_for(
        self,
        *,
        representative_account_id: int,
        patient_person_id: int,
        portal_id: int,
        at: datetime,
        uow: Any = None,
    ) -> ProxyAct | None:
        """The representative acting for the patient at the practice at ``at``, or None
        when no live grant allows it then. ``uow``: the caller's transaction (a token
        request judges the grant inside its own), else a new one."""
        if uow is not None:
            return self._live_act(uow, representative_account_id, patient_person_id, portal_id, at)
        with self._tx() as tx:
            return self._live_act(tx, representative_account_id, patient_person_id, portal_id, at)

    def _live_act(
        self, uow: UnitOfWork, rep_id: int, person_id: int, portal_id: int, at: datetime
    ) -> ProxyAct | None:
        grant = uow.proxy_grants.live(portal_id, rep_id, person_id)
        if grant is None or grant.status != GrantStatus.ACTIVE:
            return None
        return self._act(uow, grant, at)

    def _act(self, uow: UnitOfWork, grant: ProxyGrantRecord, at: datetime) -> ProxyAct | None:
        decision = decide_grant(uow, self._rules, grant, at)
        if not decision.allowed:
            return None
        patient = uow.patients.of_person(
            uow.patients.portal(grant.portal_id), grant.patient_person_id
        )
        if patient is None or not patient.is_active:
            return None  # no record at the practice: nothing to open
        return ProxyAct(
            person_id=grant.patient_person_id,
            patient_id=patient.patient_id,
            relationship=grant.relationship,
            level=decision.level.value,
            categories=frozenset(c.value for c in decision.categories),
            grant_id=grant.id,
            patient_account_subject=patient.account_subject,
            related_person=grant.related_person,
            decision=decision,
        )


def _name_of(account: AccountRecord) -> str:
    if account.person is not None:
        return f"{account.person.first_name} {account.person.last_name}"
    return account.username


def _refusal(decision: ProxyDecision) -> str:
    """The first policy reason, as the refusal's code (representative_under_age, ...)."""
    return decision.reasons[0] if decision.reasons else "not_allowed"
