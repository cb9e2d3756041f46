"""An adult patient invites a representative by email (issue 10 items 3 and 7).

The portal FAQs' adult-to-adult case ("an adult child for an elderly parent"), made
online: from "Who can see my record" the patient names a practice where they have an
active record, the relationship and an email address. The address receives a single-use
link; whoever opens it signs in (or signs up first) and accepts. Accepting is the
patient's own grant (:meth:`ProxyGrantFlow.add_patient_grant`): the representative must
be 18 or older on the practice's calendar, may not be the patient, and the grant runs
``adult_grant_months`` from that day. The link is consumed in the same transaction as
the grant is written, so it works at most once and a refusal leaves it usable.

Only the SHA-256 of the link's secret is stored (an ``action_tokens`` row, invariant 5).
A new invitation to the same address for the same practice replaces the earlier one.
The invitation itself reveals nothing about whether the address has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from idp.clock import Clock
from idp.notify import Notifier
from idp.notify.notifier import InvalidEmailAddress, check_email_address
from idp.policies.proxy import Relationship, age_on, local_date
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.durable import Database, UnitOfWork
from idp.store.throttle import Throttle

from .patients import ProxyRefusal
from .proxy_grants import ProxyGrantFlow
from .proxy_terms import practice_rules
from .proxy_views import GrantView

if TYPE_CHECKING:
    from idp.services import Services

INVITE_TTL = timedelta(days=7)
# Each invitation mails an address the patient typed: a stolen session must not turn
# the provider into a mail cannon. Ten a day is plenty for a family.
INVITES_PER_DAY = 10
_PURPOSE = "proxy_invite:"  # + 16 hex of the practice and address: one live link per pair
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True, slots=True)
class InvitationView:
    """What the accept page shows: who invites, for which practice, how."""

    patient_first_name: str
    practice: str
    relationship: str
    grant_months: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _purpose(portal_id: int, email: str) -> str:
    pair = f"{portal_id}:{email.casefold()}".encode()
    return _PURPOSE + hashlib.sha256(pair).hexdigest()[:16]


def _well_formed(token: str) -> bool:
    return 20 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS


class ProxyInviteFlow:
    def __init__(
        self,
        *,
        db: Database,
        grants: ProxyGrantFlow,
        notifier: Notifier,
        clock: Clock,
        issuer: str,
        throttle: Throttle | None = None,
    ) -> None:
        self._db = db
        self._throttle = throttle
        self._grants = grants
        self._notifier = notifier
        self._clock = clock
        self._issuer = issuer.rstrip("/")

    @classmethod
    def from_services(cls, services: Services) -> ProxyInviteFlow:
        return cls(
            db=services.db,
            grants=ProxyGrantFlow.from_services(services),
            notifier=services.notifier,
            clock=services.clock,
            issuer=services.settings.issuer,
            throttle=services.throttle,
        )

    def invite(
        self,
        patient: AccountRecord,
        *,
        portal_slug: str,
        email: str,
        relationship: str,
        meta: RequestMeta,
    ) -> None:
        """Email a single-use link to ``email``; refuse (nothing sent) on bad input."""
        try:
            address = check_email_address(email)
        except InvalidEmailAddress:
            raise ProxyRefusal("email_invalid", 400, "email") from None
        try:
            kind = Relationship(relationship)
        except ValueError:
            raise ProxyRefusal("relationship_invalid", 400, "relationship") from None
        if patient.email and patient.email.casefold() == address.casefold():
            raise ProxyRefusal("representative_is_patient", 400, "email")
        now = self._clock()
        with self._db.transaction() as uow:
            portal = uow.portals.by_slug(portal_slug) if len(portal_slug) <= 64 else None
            link = None if portal is None else uow.portal_links.active_for(patient.id, portal.id)
            if portal is None or link is None:
                raise ProxyRefusal("unknown_portal", 404, "portal")
            rules = practice_rules(portal)
            person = patient.person
            if person is None or person.dob is None:
                raise ProxyRefusal("patient_birth_date_unknown", 409, "portal")
            if age_on(person.dob, local_date(now, rules)) < rules.majority_age:
                # A minor's representatives are made by staff on a signed form, not online.
                raise ProxyRefusal("patient_not_adult", 403, "portal")
            if self._throttle is not None and not self._throttle.allow(
                "proxy-invite", patient.subject, limit=INVITES_PER_DAY, window=86400
            ):
                raise ProxyRefusal("too_many_invitations", 429, "email")
            token = secrets.token_urlsafe(32)
            uow.action_tokens.issue(
                token_hash=_hash(token),
                purpose=_purpose(portal.id, address),
                account_id=patient.id,
                now=now,
                expires_at=now + INVITE_TTL,
                data={"portal_id": portal.id, "relationship": kind.value},
            )
            self._notifier.email(
                uow,
                to=address,
                template="proxy_invitation",
                context={
                    "patient_name": f"{person.first_name} {person.last_name}",
                    "practice": portal.name,
                    "relationship": kind.value.replace("_", " "),
                    "accept_url": f"{self._issuer}/account/proxy/accept/{token}",
                    "expires_days": INVITE_TTL.days,
                    "grant_months": portal.adult_grant_months,
                },
                now=now,
            )
            uow.audit.record(
                AuditEntry(
                    type="proxy_invited",
                    outcome="success",
                    actor=patient.subject,
                    subject=patient.subject,
                    ip=meta.ip,
                    user_agent=meta.user_agent,
                    # The address stays out of the trail (PII); the outbox row holds it.
                    details={"portal": portal.slug, "relationship": kind.value},
                ),
                now=now,
            )

    def peek(self, token: str) -> InvitationView | None:
        """The live invitation behind ``token`` (not used up), or None."""
        if not _well_formed(token):
            return None
        with self._db.transaction() as uow:
            found = self._live(uow, token)
            if found is None:
                return None
            record, patient, portal = found
            person = patient.person
            return InvitationView(
                patient_first_name="" if person is None else person.first_name,
                practice=portal.name,
                relationship=str(record.data.get("relationship", "other")),
                grant_months=portal.adult_grant_months,
            )

    def _live(self, uow: UnitOfWork, token: str) -> tuple[Any, AccountRecord, Any] | None:
        """The token's row, the inviting patient and the practice, if all still stand."""
        now = self._clock()
        token_hash = _hash(token)
        record = uow.action_tokens.peek_any(token_hash, _PURPOSE, now=now)
        if record is None:
            return None
        patient = uow.accounts.by_id(record.account_id)
        portal = uow.patients.portal(int(record.data["portal_id"]))
        if patient is None or not patient.is_active:
            return None
        return record, patient, portal

    def accept(self, token: str, representative: AccountRecord, *, meta: RequestMeta) -> GrantView:
        """The signed-in ``representative`` takes up the invitation: the grant is active
        now and both sides are emailed; the link is used up in the same transaction."""
        if not _well_formed(token):
            raise ProxyRefusal("invitation_invalid", 404, "token")
        with self._db.transaction() as uow:
            found = self._live(uow, token)
            if found is None:
                raise ProxyRefusal("invitation_invalid", 404, "token")
            record, patient, portal = found
            if patient.id == representative.id:
                raise ProxyRefusal("representative_is_patient", 400, "token")
            view = self._grants.add_patient_grant(
                uow,
                patient,
                portal,
                representative=representative.username,
                relationship=str(record.data.get("relationship", "other")),
                meta=meta,
                via="invitation",
            )
            # Single use: exactly one of two concurrent acceptances consumes the link; the
            # other's transaction (its grant included) rolls back.
            if uow.action_tokens.consume(_hash(token), record.purpose, now=self._clock()) is None:
                raise ProxyRefusal("invitation_invalid", 404, "token")
            return view
