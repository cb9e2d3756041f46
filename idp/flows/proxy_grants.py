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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import Notifier
from idp.policies.proxy import (
    Category,
    GrantKind,
    GrantStatus,
    ProxyDecision,
    ProxyFacts,
    ProxyLevel,
    ProxyRules,
    Relationship,
    age_on,
    check_proxy_access,
    local_date,
)
from idp.records import AccountRecord, AuditEntry, PortalRecord, RequestMeta
from idp.store.sql.database import Database
from idp.store.sql.patients import PatientRecord
from idp.store.sql.proxy_grants import (
    DuplicateGrantError,
    GrantEventRecord,
    NewGrant,
    ProxyGrantRecord,
)
from idp.store.sql.repositories import UnitOfWork

from .patients import ProxyRefusal, check_patient_id, check_text

if TYPE_CHECKING:
    from idp.services import Services

LIVE = (GrantStatus.PENDING_COSIGNATURE, GrantStatus.PENDING_APPROVAL, GrantStatus.ACTIVE)
PENDING = (GrantStatus.PENDING_COSIGNATURE, GrantStatus.PENDING_APPROVAL)
# Policy reasons that mean the grant has run its course (not a refusal of a new one).
ENDED_REASONS = frozenset({"majority_reached", "adult_grant_expired", "grant_ended"})
# Plain words for emails and pages.
LEVEL_WORDS = {
    ProxyLevel.FULL: "full access",
    ProxyLevel.TEEN_FULL: "full access (co-signed by the teen)",
    ProxyLevel.TEEN_LIMITED: "limited teen access (scheduling, messages, immunizations, allergies)",
    ProxyLevel.ADULT: "full access",
    ProxyLevel.NONE: "no access",
}
MAX_EVIDENCE = 200
_CATEGORY_VALUES = frozenset(c.value for c in Category)


@dataclass(frozen=True, slots=True)
class GrantView:
    """A grant with what it allows now: what lists, pages and APIs show."""

    grant: ProxyGrantRecord
    portal: PortalRecord
    patient_id: str | None  # the practice's MRN
    patient_name: str
    patient_subject: str | None
    representative_username: str
    representative_subject: str
    decision: ProxyDecision
    history: tuple[GrantEventRecord, ...] = ()
    # The patient's own account shares an email or phone with the representative:
    # a teen's account a parent may be reading (standards.md row 35); shown to staff.
    shared_contact: bool = False
    confidential: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class _Parties:
    patient: PatientRecord
    representative: AccountRecord


def _same_contact(patient: PatientRecord, rep: AccountRecord) -> bool:
    def norm(value: str | None) -> str:
        return (value or "").strip().casefold()

    email = norm(patient.account_email)
    phone = "".join(c for c in norm(patient.account_phone) if c.isdigit())
    rep_phone = "".join(c for c in norm(rep.phone) if c.isdigit())
    return bool((email and email == norm(rep.email)) or (phone and phone == rep_phone))


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

    @contextmanager
    def _tx(self) -> Iterator[UnitOfWork]:
        with self._db.transaction() as uow:
            yield uow

    # --- facts and decisions ---------------------------------------------------------------

    def _decide(self, uow: UnitOfWork, grant: ProxyGrantRecord, at: datetime) -> ProxyDecision:
        person = uow.patients.person(grant.patient_person_id)
        rep = uow.accounts.by_id(grant.representative_account_id)
        rep_dob = rep.person.dob if rep is not None and rep.person is not None else None
        flags = {
            f.category for f in uow.confidential_flags.of(grant.portal_id, grant.patient_person_id)
        }
        patient_dob = person.dob if person is not None else None
        if patient_dob is None or rep_dob is None:
            # A birth date gone missing: no age can be known, so no access (fail closed).
            return ProxyDecision(
                allowed=False,
                level=ProxyLevel.NONE,
                categories=frozenset(),
                reasons=("birth_date_unknown",),
                ends_at=None,
                next_transition_at=None,
            )
        return check_proxy_access(self._facts(grant, patient_dob, rep_dob, flags), self._rules, at)

    @staticmethod
    def _facts(
        grant: ProxyGrantRecord, patient_dob: date, rep_dob: date, flags: set[str] | frozenset[str]
    ) -> ProxyFacts:
        cosigned = grant.teen_cosigned_at
        approved = grant.approved_at
        return ProxyFacts(
            patient_birth_date=patient_dob,
            representative_birth_date=rep_dob,
            relationship=Relationship(grant.relationship),
            grant_kind=GrantKind(grant.kind),
            grant_status=GrantStatus(grant.status),
            teen_cosigned_full=cosigned is not None,
            # Staff approval counts for full teen access only once the teen has signed.
            staff_approved_full=bool(
                grant.full_access_requested
                and cosigned is not None
                and approved is not None
                and approved >= cosigned
            ),
            legal_document_on_file=grant.legal_document,
            adult_grant_started_on=grant.starts_on if grant.kind == GrantKind.PATIENT else None,
            grant_ends_on=grant.ends_on,
            confidential=frozenset(Category(c) for c in flags if c in _CATEGORY_VALUES),
        )

    def _view(
        self, uow: UnitOfWork, grant: ProxyGrantRecord, at: datetime, *, history: bool = True
    ) -> GrantView:
        portal = uow.patients.portal(grant.portal_id)
        patient = uow.patients.of_person(portal, grant.patient_person_id)
        rep = uow.accounts.by_id(grant.representative_account_id)
        assert rep is not None
        person = uow.patients.person(grant.patient_person_id)
        name = "" if person is None else f"{person.first_name} {person.last_name}"
        flags = uow.confidential_flags.of(grant.portal_id, grant.patient_person_id)
        return GrantView(
            grant=grant,
            portal=portal,
            patient_id=None if patient is None else patient.patient_id,
            patient_name=name,
            patient_subject=None if patient is None else patient.account_subject,
            representative_username=rep.username,
            representative_subject=rep.subject,
            decision=self._decide(uow, grant, at),
            history=tuple(uow.proxy_grants.history(grant.id)) if history else (),
            shared_contact=patient is not None and _same_contact(patient, rep),
            confidential=frozenset(f.category for f in flags),
        )

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
        return _Parties(patient, rep)

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
        today = local_date(now, self._rules)
        if ends_on is not None and ends_on <= today:
            raise ProxyRefusal("ends_on_not_future", 400, "ends_on")
        full_access = full_access or teen_signed
        with self._tx() as uow:
            parties = self._parties(uow, portal, patient_id, representative)
            assert parties.patient.person is not None and parties.patient.person.dob is not None
            teen = (
                self._rules.teen_age
                <= age_on(parties.patient.person.dob, today)
                < self._rules.majority_age
            )
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
            )
            # Judge the grant as it would stand, active, before storing anything.
            probe = self._probe(new, now)
            decision = check_proxy_access(
                self._facts(
                    probe,
                    parties.patient.person.dob,
                    parties.representative.person.dob,  # type: ignore[union-attr]
                    set(),
                ),
                self._rules,
                now,
            )
            if not decision.allowed:
                raise ProxyRefusal(_refusal(decision), 400, "representative")
            grant = self._add(uow, new, now)
            view = self._view(uow, grant, now)
            self._record(uow, meta, "proxy_granted", view, actor=actor, staff=staff_actor)
            self._notify(uow, view, "granted" if view.grant.status == "active" else "pending")
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
    ) -> GrantView:
        """Staff approval: of a pending grant, or of full access for a teen who signed.

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
            view = self._view(uow, moved, now)
            if not view.decision.allowed and grant.status != GrantStatus.ACTIVE:
                raise ProxyRefusal(_refusal(view.decision), 409, "grant")
            self._record(uow, meta, "proxy_approved", view, actor=actor, staff=staff_actor)
            self._notify(uow, view, "approved")
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
            view = self._view(uow, moved, now)
            self._record(uow, meta, "proxy_revoked", view, actor=actor, reason=reason)
            self._notify(uow, view, "revoked")
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
    ) -> GrantView:
        """An adult patient's own grant: active now, for ``adult_grant_months``."""
        try:
            kind = Relationship(relationship)
        except ValueError:
            raise ProxyRefusal("relationship_invalid", 400, "relationship") from None
        now = self._clock()
        today = local_date(now, self._rules)
        with self._tx() as uow:
            link = uow.portal_links.active_for(patient_account.id, portal.id)
            if link is None:
                raise ProxyRefusal("unknown_patient", 404, "patient_id")
            parties = self._parties(uow, portal, link.patient_id, representative)
            person = parties.patient.person
            assert person is not None and person.dob is not None
            if age_on(person.dob, today) < self._rules.majority_age:
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
                self._facts(
                    self._probe(new, now),
                    person.dob,
                    parties.representative.person.dob,  # type: ignore[union-attr]
                    set(),
                ),
                self._rules,
                now,
            )
            if not decision.allowed:
                raise ProxyRefusal(_refusal(decision), 400, "representative")
            grant = self._add(uow, new, now)
            view = self._view(uow, grant, now)
            self._record(uow, meta, "proxy_granted", view, actor=patient_account.subject)
            self._notify(uow, view, "granted")
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
            view = self._view(uow, moved, now)
            self._record(uow, meta, "proxy_cosigned", view, actor=teen_account.subject)
            self._notify(uow, view, "pending")
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
                decision = self._decide(uow, grant, now)
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
                view = self._view(uow, moved, now)
                self._record(uow, meta, "proxy_expired", view, actor=actor, reason=sorted(ended)[0])
                self._notify(uow, view, "expired")
                count += 1
        return count

    # --- reading -----------------------------------------------------------------------------

    def get(self, grant_id: int, *, portal_id: int | None = None) -> GrantView:
        with self._tx() as uow:
            return self._view(uow, self._find(uow, grant_id, portal_id), self._clock())

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
            return [self._view(uow, g, now) for g in grants]

    def list_for_account(self, account: AccountRecord) -> tuple[list[GrantView], list[GrantView]]:
        """(grants to others for this account's record, grants this account holds)."""
        now = self._clock()
        with self._tx() as uow:
            mine: list[ProxyGrantRecord] = []
            if account.person is not None:
                mine = uow.proxy_grants.for_patient(account.person.id)
            held = uow.proxy_grants.for_representative(account.id)
            return [self._view(uow, g, now) for g in mine], [self._view(uow, g, now) for g in held]

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
            return self._decide(uow, grant, at or self._clock())

    # --- audit and mail ----------------------------------------------------------------------

    def _record(
        self,
        uow: UnitOfWork,
        meta: RequestMeta,
        event: str,
        view: GrantView,
        *,
        actor: str,
        **details: Any,
    ) -> None:
        grant = view.grant
        info: dict[str, Any] = {
            "grant_id": grant.id,
            "portal": view.portal.slug,
            "representative": view.representative_subject,
            "relationship": grant.relationship,
            "status": grant.status,
            "level": view.decision.level.value,
            "evidence": grant.evidence_ref,
            "approved_by": grant.approved_by,
        }
        info.update((k, v) for k, v in details.items() if v is not None)
        uow.audit.record(
            AuditEntry(
                type=event,
                outcome="success",
                actor=actor,
                subject=view.patient_subject or f"person:{grant.patient_person_id}",
                client_id=actor.removeprefix("client:") if actor.startswith("client:") else None,
                ip=meta.ip,
                user_agent=meta.user_agent,
                details={k: v for k, v in info.items() if v is not None},
            ),
            now=self._clock(),
        )

    def _notify(self, uow: UnitOfWork, view: GrantView, change: str) -> None:
        """Tell both sides: the representative and the patient (their account's address,
        else the person's own on file); one message when both are the same address."""
        rep = uow.accounts.by_id(view.grant.representative_account_id)
        person = uow.patients.person(view.grant.patient_person_id)
        patient_email = None
        if view.patient_subject is not None:
            account = uow.accounts.by_subject(view.patient_subject)
            patient_email = account.email if account is not None else None
        if patient_email is None and person is not None:
            patient_email = person.email
        context = {
            "change": change,
            "practice": view.portal.name,
            "patient_first_name": "" if person is None else person.first_name,
            "representative_name": _display_name(rep),
            "level": LEVEL_WORDS[view.decision.level],
            "status": view.grant.status,
            "account_url": f"{self._issuer}/account",
        }
        sent: set[str] = set()
        for role, address in (
            ("representative", rep.email if rep else None),
            ("patient", patient_email),
        ):
            if not address or address.casefold() in sent:
                continue
            sent.add(address.casefold())
            self._notifier.email(
                uow,
                to=address,
                template="proxy_grant_changed",
                context={**context, "role": role},
                now=self._clock(),
            )


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def grant_row(view: GrantView) -> dict[str, Any]:
    """A grant as staff see it (CLI ``--json`` and the admin API)."""
    grant, decision = view.grant, view.decision
    return {
        "id": grant.id,
        "portal": view.portal.slug,
        "patient_id": view.patient_id,
        "patient_name": view.patient_name,
        "representative": view.representative_username,
        "relationship": grant.relationship,
        "kind": grant.kind,
        "status": grant.status,
        "level": decision.level.value,
        "categories": sorted(c.value for c in decision.categories),
        "reasons": list(decision.reasons),
        "full_access_requested": grant.full_access_requested,
        "teen_cosigned_by": grant.teen_cosigned_by,
        "legal_document": grant.legal_document,
        "evidence": grant.evidence_ref,
        "created_by": grant.created_by,
        "approved_by": grant.approved_by,
        "approved_at": _iso(grant.approved_at),
        "starts_on": _iso(grant.starts_on),
        "ends_on": _iso(grant.ends_on),
        "access_ends_at": _iso(decision.ends_at),
        "next_change_at": _iso(decision.next_transition_at),
        "confidential": sorted(view.confidential),
        "shared_contact": view.shared_contact,
        "history": [
            {"at": _iso(e.at), "action": e.action, "status": e.status, "actor": e.actor}
            | ({"reason": e.reason} if e.reason else {})
            for e in view.history
        ],
    }


def _display_name(account: AccountRecord | None) -> str:
    if account is None:
        return "your representative"
    if account.person is not None:
        return f"{account.person.first_name} {account.person.last_name}"
    return account.username


def _refusal(decision: ProxyDecision) -> str:
    """The first policy reason, as the refusal's code (representative_under_age, ...)."""
    return decision.reasons[0] if decision.reasons else "not_allowed"
