"""The patient's practices ("My portals", issue 5 item 6): see them, unlink one.

Unlinking follows the account pages' path (:mod:`idp.flows.account_settings`),
and each step can only refuse, never half-do:

    fields checked ──missing, oversized, control characters──▶ INVALID (nothing counted)
        │
        ▼
    an active link to that practice? ──no──▶ NOT_FOUND
        │
        ▼
    current password (ASVS 7.5.1) ──wrong──▶ WRONG_PASSWORD, or LOCKED at the limit
        │        (counted under the sign-in's own key, audited: invariant 6)
        ▼
    link revoked + the practice's clients' consents and refresh tokens ended
    + audit event, in ONE transaction (invariant 9) ──▶ DONE
        │
        ▼
    access tokens of those token families voided in the ephemeral store, last

SSO sessions are left alone: one session serves every practice, and the portal's
own session is the portal's business. What ends is everything the portal holds
from us: its consent, its refresh tokens and the access tokens they issued, and
the ``patient_id`` its tokens and UserInfo carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from idp.clock import Clock
from idp.records import AccountRecord, AuditEntry, RequestMeta
from idp.store.sql.database import Database
from idp.store.sql.portal_links import INVITED, PortalLinkRecord
from idp.store.sql.repositories import UnitOfWork

from .account_settings import (
    MAX_PASSWORD,
    Actor,
    GrantRevoker,
    Outcome,
    Result,
    check_fields,
)
from .lockout import CredentialLockout, Reauthentication, reauthenticate
from .methods.password import PasswordHashing

MAX_SLUG = 64
MAX_CLIENT_ID = 64
# How many trailing characters of a patient identifier the page shows.
SHOWN_PATIENT_CHARS = 3


def mask_patient_id(patient_id: str) -> str:
    """``••••123``: enough for the patient to tell two records apart, and the same
    width for every identifier, so the page does not reveal its length either."""
    if len(patient_id) <= SHOWN_PATIENT_CHARS:
        return "••••"
    return "••••" + patient_id[-SHOWN_PATIENT_CHARS:]


@dataclass(frozen=True, slots=True)
class LinkedPractice:
    slug: str
    name: str
    patient_id_masked: str
    linked_since: datetime
    last_signin_at: datetime | None


@dataclass(frozen=True, slots=True)
class PendingPractice:
    """A practice waiting for this patient: an invitation sent to the account's
    verified address, or a link the practice made as "invited"."""

    name: str
    invited_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AllowedApp:
    """A portal or app the patient consented to, linked to a record or not."""

    client_id: str
    name: str
    practice: str | None
    scopes: tuple[str, ...]
    allowed_since: datetime


@dataclass(frozen=True, slots=True)
class PortalsOverview:
    linked: list[LinkedPractice]
    pending: list[PendingPractice]
    # Every portal and app with the patient's consent (issue 14, item 7).
    allowed: list[AllowedApp] = field(default_factory=list)


def _linked(link: PortalLinkRecord) -> LinkedPractice:
    return LinkedPractice(
        slug=link.portal_slug,
        name=link.portal_name,
        patient_id_masked=mask_patient_id(link.patient_id),
        linked_since=link.activated_at or link.created_at,
        last_signin_at=link.last_signin_at,
    )


class PortalLinks:
    """The "My portals" page's journeys; each public method is one user action."""

    def __init__(
        self,
        *,
        db: Database,
        hashing: PasswordHashing,
        lockout: CredentialLockout,
        grants: GrantRevoker,
        clock: Clock,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._lockout = lockout
        self._grants = grants
        self._clock = clock

    def overview(self, actor: Actor) -> PortalsOverview | None:
        """Practices with an active link, and practices waiting for this patient.

        Waiting: live invitations sent to the account's *verified* address (an
        unproven address may be someone else's), and links made as "invited".
        Only the practice's name and dates are shown, never the invitation's
        patient details; practices already linked are left out.
        """
        now = self._clock()
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return None
            links = uow.portal_links.list_for_account(account.id)
            consents = uow.consents.list_for_account(account.id)
            invitations = (
                uow.invitations.pending_for_email(account.email, now=now)
                if account.email and account.email_verified
                else []
            )
        linked = [link for link in links if link.is_active]
        pending: dict[int, PendingPractice] = {}
        for link in links:
            if link.status == INVITED:
                pending[link.portal_id] = PendingPractice(link.portal_name, link.created_at)
        for invitation in invitations:
            pending.setdefault(
                invitation.portal_id,
                PendingPractice(
                    invitation.portal_name, invitation.created_at, invitation.expires_at
                ),
            )
        for link in linked:
            pending.pop(link.portal_id, None)
        return PortalsOverview(
            linked=[_linked(link) for link in linked],
            pending=sorted(pending.values(), key=lambda p: (p.name, p.invited_at)),
            allowed=[
                AllowedApp(c.client_id, c.client_name, c.portal_name, c.scopes, c.granted_at)
                for c in consents
            ],
        )

    def withdraw_consent(self, actor: Actor, *, client_id: str) -> Result:
        """Take back a portal's or app's permission: its tokens end, and its next
        sign-in asks again. No password: this only ever reduces access."""
        problem = check_fields([(client_id, MAX_CLIENT_ID)])
        if problem:
            return Result(Outcome.INVALID, problem)
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            client = uow.clients.by_client_id(client_id) if client_id else None
            now = self._clock()
            if client is None or not uow.consents.revoke(account.id, client.id, now=now):
                # Only the patient's own consents can be named.
                return Result(Outcome.NOT_FOUND, "consent_not_found")
            families = uow.refresh_tokens.revoke_for_client(account.id, client.id, now=now)
            uow.audit.record(
                self._entry(
                    actor,
                    "consent_withdrawn",
                    {"client": client.client_id, "token_families_revoked": len(families)},
                ),
                now=now,
            )
            for family in families:
                self._grants.revoke_grant(family)
        return Result(Outcome.DONE, "consent_withdrawn")

    def unlink(self, actor: Actor, *, portal: str, password: str) -> Result:
        """End the link to one practice and everything its clients hold for this account."""
        problem = check_fields([(password, MAX_PASSWORD), (portal, MAX_SLUG)])
        if problem:
            return Result(Outcome.INVALID, problem)
        with self._db.transaction() as uow:
            account = self._account(uow, actor)
            if account is None:
                return Result(Outcome.UNAVAILABLE, "account_unavailable")
            practice = uow.portals.by_slug(portal)
            link = uow.portal_links.active_for(account.id, practice.id) if practice else None
            if practice is None or link is None:
                # Only the account's own practices can be named; no password is asked
                # for (or counted) when there is nothing to unlink.
                return Result(Outcome.NOT_FOUND, "portal_not_linked")
            refused = self._reauthenticate(uow, account, password, actor)
            if refused is not None:
                return refused
            now = self._clock()
            uow.portal_links.revoke(account.id, practice.id, now)
            consents = uow.portal_links.revoke_consents(account.id, practice.id, now)
            families = uow.portal_links.revoke_refresh_tokens(account.id, practice.id, now)
            uow.audit.record(
                self._entry(
                    actor,
                    "portal_unlinked",
                    {
                        "portal": practice.slug,
                        "consents_revoked": consents,
                        "token_families_revoked": len(families),
                    },
                ),
                now=now,
            )
            # A refresh token family and the access tokens it issued share one grant id.
            for family in families:
                self._grants.revoke_grant(family)
        return Result(Outcome.DONE, "portal_unlinked")

    # --- shared steps (as in AccountSettings) ----------------------------------------------

    @staticmethod
    def _account(uow: UnitOfWork, actor: Actor) -> AccountRecord | None:
        account = uow.accounts.by_id(actor.account_id)
        if account is None or not account.is_active or account.subject != actor.subject:
            return None
        return account

    def _reauthenticate(
        self, uow: UnitOfWork, account: AccountRecord, password: str, actor: Actor
    ) -> Result | None:
        """The current password under the sign-in's lockout (invariant 6).

        Same counter key (the normalised user ID) and reserve-then-check order as the
        login flow and ``AccountSettings``, so guesses here, on the account pages and
        on the login page share one limit.
        """
        outcome = reauthenticate(
            self._lockout,
            self._hashing,
            uow,
            account,
            password,
            meta=RequestMeta(ip=actor.ip, user_agent=actor.user_agent),
            now=self._clock(),
            source="account_page",
            device_cookie=actor.device_cookie,
        )
        if outcome is Reauthentication.OK:
            return None
        if outcome is Reauthentication.LOCKED:
            self._refusal(uow, actor, "locked")
            return Result(Outcome.LOCKED, "account_locked")
        self._refusal(uow, actor, "invalid_credentials")
        return Result(Outcome.WRONG_PASSWORD, "account_wrong_password")

    def _refusal(self, uow: UnitOfWork, actor: Actor, reason: str) -> None:
        details = {"action": "unlink_portal", "reason": reason}
        entry = self._entry(actor, "reauthentication", details, outcome="failure")
        uow.audit.record(entry, now=self._clock())

    @staticmethod
    def _entry(
        actor: Actor, event: str, details: dict[str, Any], *, outcome: str = "success"
    ) -> AuditEntry:
        """Who (the account, acting for itself), what, from where; never a secret."""
        return AuditEntry(
            type=event,
            outcome=outcome,
            actor=actor.subject,
            subject=actor.subject,
            ip=actor.ip,
            user_agent=actor.user_agent,
            session_id=actor.session_key[:16],
            details=details,
        )
