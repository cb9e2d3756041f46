"""What a proxy grant allows now, and how its changes are told: shared by the grant flow,
the staff tools and the account pages.

:func:`decide_grant` is the one place a stored grant meets :mod:`idp.policies.proxy`:
it reads both birth dates and the patient's confidential flags and asks the policy about
one moment. Nothing about a level is stored, so nothing here can go stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from idp.i18n import N_, translate
from idp.notify import Notifier
from idp.notify.phone import InvalidPhoneNumber, normalize_phone
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
from idp.store.durable import UnitOfWork
from idp.store.patients import PatientRecord
from idp.store.proxy_grants import GrantEventRecord, ProxyGrantRecord

from .proxy_terms import practice_rules

# Plain words for emails and pages.
LEVEL_WORDS = {
    ProxyLevel.FULL: N_("full access"),
    ProxyLevel.TEEN_FULL: N_("full access (co-signed by the teen)"),
    ProxyLevel.TEEN_LIMITED: N_(
        "limited teen access (scheduling, messages, immunizations, allergies)"
    ),
    ProxyLevel.ADULT: N_("full access"),
    ProxyLevel.NONE: N_("no access"),
}
_CATEGORY_VALUES = frozenset(c.value for c in Category)
# A birth date gone missing: no age can be known, so no access (fail closed).
_NO_BIRTH_DATE = ProxyDecision(
    allowed=False,
    level=ProxyLevel.NONE,
    categories=frozenset(),
    reasons=("birth_date_unknown",),
    ends_at=None,
    next_transition_at=None,
)


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
    patient_birth_date: date | None = None


def grant_facts(
    grant: ProxyGrantRecord, patient_dob: date, rep_dob: date, flags: set[str] | frozenset[str]
) -> ProxyFacts:
    """The policy's facts for one stored grant."""
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


def grant_terms(
    uow: UnitOfWork, rules: ProxyRules, grant: ProxyGrantRecord
) -> tuple[ProxyRules, ProxyFacts] | None:
    """The practice's rules and the policy's facts for one stored grant; None when a
    birth date is missing (no age can be known)."""
    rules = practice_rules(uow.patients.portal(grant.portal_id), rules)
    person = uow.patients.person(grant.patient_person_id)
    rep = uow.accounts.by_id(grant.representative_account_id)
    rep_dob = rep.person.dob if rep is not None and rep.person is not None else None
    patient_dob = person.dob if person is not None else None
    if patient_dob is None or rep_dob is None:
        return None
    flags = {
        f.category for f in uow.confidential_flags.of(grant.portal_id, grant.patient_person_id)
    }
    return rules, grant_facts(grant, patient_dob, rep_dob, flags)


def decide_grant(
    uow: UnitOfWork, rules: ProxyRules, grant: ProxyGrantRecord, at: datetime
) -> ProxyDecision:
    """What the grant allows at ``at``: the policy's answer, confidential flags removed.

    The ages, period and calendar are the grant's practice's (``rules`` gives the rest,
    the representative's minimum age), read here so that no caller can judge a grant
    on another practice's terms.
    """
    terms = grant_terms(uow, rules, grant)
    if terms is None:
        return _NO_BIRTH_DATE
    return check_proxy_access(terms[1], terms[0], at)


def _phone(value: str | None) -> str:
    """E.164 when the number parses (so "(617) 555-0100" equals "+16175550100"), else
    its digits: two spellings of one number must match."""
    if not value:
        return ""
    try:
        return normalize_phone(value)
    except InvalidPhoneNumber:
        return "".join(c for c in value if c.isdigit())


def contacts_match(
    email_a: str | None, phone_a: str | None, email_b: str | None, phone_b: str | None
) -> bool:
    """The same email (case-insensitive) or the same phone number on both sides."""
    email = (email_a or "").strip().casefold()
    phone = _phone(phone_a)
    return bool(
        (email and email == (email_b or "").strip().casefold())
        or (phone and phone == _phone(phone_b))
    )


def shared_contact(patient: PatientRecord, rep: AccountRecord) -> bool:
    return contacts_match(patient.account_email, patient.account_phone, rep.email, rep.phone)


def grant_view(
    uow: UnitOfWork, rules: ProxyRules, grant: ProxyGrantRecord, at: datetime
) -> GrantView:
    portal = uow.patients.portal(grant.portal_id)
    patient = uow.patients.of_person(portal, grant.patient_person_id)
    rep = uow.accounts.by_id(grant.representative_account_id)
    assert rep is not None, "accounts are closed, never deleted"
    person = uow.patients.person(grant.patient_person_id)
    flags = uow.confidential_flags.of(grant.portal_id, grant.patient_person_id)
    return GrantView(
        grant=grant,
        portal=portal,
        patient_id=None if patient is None else patient.patient_id,
        patient_name="" if person is None else f"{person.first_name} {person.last_name}",
        patient_subject=None if patient is None else patient.account_subject,
        representative_username=rep.username,
        representative_subject=rep.subject,
        decision=decide_grant(uow, rules, grant, at),
        history=tuple(uow.proxy_grants.history(grant.id)),
        shared_contact=patient is not None and shared_contact(patient, rep),
        confidential=frozenset(f.category for f in flags),
        patient_birth_date=None if person is None else person.dob,
    )


# --- audit and mail --------------------------------------------------------------------------


def record_change(
    uow: UnitOfWork,
    meta: RequestMeta,
    now: datetime,
    event: str,
    view: GrantView,
    *,
    actor: str,
    **details: Any,
) -> None:
    """One audit event: the actor, the patient as subject, the representative, the
    evidence and approver; never the MRN or demographics (the grant row holds those)."""
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
        **details,
    }
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
        now=now,
    )
    flag_shared_contact(uow, view, now=now, meta=meta, actor=actor)


SHARED_CONTACT = "shared_contact"
_LIVE = frozenset({"pending_cosignature", "pending_approval", "active"})


def is_shared_minor_account(view: GrantView, at: datetime) -> bool:
    """A minor's own account shares an email or phone with a live representative's:
    the parent may be reading the teen's mail or codes (standards.md rows 33 and 35)."""
    if not view.shared_contact or view.grant.status not in _LIVE:
        return False
    rules = practice_rules(view.portal)
    birth = view.patient_birth_date
    return birth is not None and age_on(birth, local_date(at, rules)) < rules.majority_age


def flag_shared_contact(
    uow: UnitOfWork, view: GrantView, *, now: datetime, meta: RequestMeta, actor: str
) -> bool:
    """Tell staff once per grant: a history row ``flagged`` and an audit event
    ``proxy_shared_contact_flagged`` (listed by ``idp proxy flags``). True if new."""
    if not is_shared_minor_account(view, now):
        return False
    if any(e.action == "flagged" and e.reason == SHARED_CONTACT for e in view.history):
        return False
    uow.proxy_grants.note(view.grant.id, "flagged", actor=actor, reason=SHARED_CONTACT, now=now)
    uow.audit.record(
        AuditEntry(
            type="proxy_shared_contact_flagged",
            outcome="success",
            actor=actor,
            subject=view.patient_subject or f"person:{view.grant.patient_person_id}",
            ip=meta.ip,
            user_agent=meta.user_agent,
            details={
                "grant_id": view.grant.id,
                "portal": view.portal.slug,
                "representative": view.representative_subject,
                "reason": SHARED_CONTACT,
            },
        ),
        now=now,
    )
    return True


def notify_change(
    uow: UnitOfWork,
    notifier: Notifier,
    view: GrantView,
    *,
    issuer: str,
    now: datetime,
    change: str,
) -> None:
    """Tell both sides: the representative and the patient (their account's address, else
    the person's own on file); one message when both are the same address."""
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
        "level": translate(LEVEL_WORDS[view.decision.level]),
        "status": view.grant.status,
        "account_url": f"{issuer}/account",
    }
    sent: set[str] = set()
    for role, address in (
        ("representative", rep.email if rep else None),
        ("patient", patient_email),
    ):
        if not address or address.casefold() in sent:
            continue
        sent.add(address.casefold())
        notifier.email(
            uow,
            to=address,
            template="proxy_grant_changed",
            context={**context, "role": role},
            now=now,
        )


def _display_name(account: AccountRecord | None) -> str:
    if account is None:
        return "your representative"
    if account.person is not None:
        return f"{account.person.first_name} {account.person.last_name}"
    return account.username


# --- rows for staff tools -----------------------------------------------------------------


def _iso(value: date | datetime | None) -> str | None:
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
        "related_person": grant.related_person,
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
