"""Repositories over one SQL session: what flows need, named for intent.

A :class:`UnitOfWork` groups them so that a change and its audit event share
one transaction (security invariant 9). Reads return frozen records.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.audit.chain import SHARDS, ChainBreak
from idp.audit.export import AuditRow
from idp.audit.search import AuditFilter, Cursor
from idp.records import (
    AccountRecord,
    AuditEntry,
    AuditRecord,
    ClientRecord,
    PersonRecord,
    PortalRecord,
    RefreshTokenRecord,
)
from idp.store.usernames import username_key

from . import audit_chain, audit_search
from . import models as m
from .action_tokens import ActionTokenRepository
from .candidates import CandidateRepository
from .credentials import CredentialRepository
from .enrollments import EnrollmentRepository
from .invitations import InvitationRepository
from .outbox import OutboxRepository
from .patients import PatientRepository
from .portal_links import PortalLinkRepository
from .proxy_grants import ConfidentialFlagRepository, ProxyGrantRepository
from .security_answers import SecurityAnswerRepository

_log = logging.getLogger("idp.store")


class DuplicateError(Exception):
    """A unique value (user ID, slug, client_id) is already taken."""


# --- conversions ---------------------------------------------------------------------------


def _person(row: m.Person | None) -> PersonRecord | None:
    if row is None:
        return None
    return PersonRecord(
        id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        dob=row.dob,
        zip=row.zip,
        gender=row.gender,
        phone=row.phone,
        email=row.email,
    )


def _portal(row: m.Portal | None) -> PortalRecord | None:
    return (
        None
        if row is None
        else PortalRecord(
            id=row.id, slug=row.slug, name=row.name, require_mfa=bool(row.require_mfa)
        )
    )


# --- accounts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewPerson:
    first_name: str
    last_name: str
    dob: date | None = None
    zip: str | None = None
    gender: str | None = None
    phone: str | None = None
    email: str | None = None


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _record(self, row: m.Account) -> AccountRecord:
        person = self._s.get(m.Person, row.person_id) if row.person_id else None
        return AccountRecord(
            id=row.id,
            subject=row.subject,
            username=row.username,
            password_hash=row.password_hash,
            email=row.email,
            email_verified=row.email_verified,
            phone=row.phone,
            phone_verified=row.phone_verified,
            status=row.status,
            must_change_password=row.must_change_password,
            person=_person(person),
            created_at=row.created_at,
            password_changed_at=row.password_changed_at,
        )

    def by_username(self, username: str) -> AccountRecord | None:
        row = self._s.scalar(
            select(m.Account).where(m.Account.username_key == username_key(username))
        )
        return None if row is None else self._record(row)

    def by_id(self, account_id: int) -> AccountRecord | None:
        row = self._s.get(m.Account, account_id)
        return None if row is None else self._record(row)

    def by_subject(self, subject: str) -> AccountRecord | None:
        row = self._s.scalar(select(m.Account).where(m.Account.subject == subject))
        return None if row is None else self._record(row)

    def add(
        self,
        *,
        username: str,
        password_hash: str,
        email: str | None,
        now: datetime,
        person: NewPerson | None = None,
        email_verified: bool = False,
        phone: str | None = None,
        must_change_password: bool = False,
        status: str = "active",
    ) -> AccountRecord:
        person_row = None
        if person is not None:
            person_row = m.Person(
                first_name=person.first_name,
                last_name=person.last_name,
                dob=person.dob,
                zip=person.zip,
                gender=person.gender,
                phone=person.phone,
                email=person.email,
                created_at=now,
            )
            self._s.add(person_row)
        row = m.Account(
            subject=str(uuid.uuid4()),
            username=username.strip(),
            username_key=username_key(username),
            password_hash=password_hash,
            email=email,
            email_verified=email_verified,
            phone=phone,
            phone_verified=False,
            status=status,
            must_change_password=must_change_password,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )
        if person_row is not None:
            self._s.flush()
            row.person_id = person_row.id
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:
            raise DuplicateError("username") from exc
        return self._record(row)

    def replace_password_hash(self, account_id: int, password_hash: str, *, now: datetime) -> None:
        """Store a re-hash of the same password (parameters rose); not a password change."""
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(password_hash=password_hash, updated_at=now)
        )

    def by_email(self, email: str) -> list[AccountRecord]:
        """Accounts whose address is this one (case-insensitive); closed ones excluded."""
        rows = self._s.scalars(
            select(m.Account).where(
                func.lower(m.Account.email) == email.strip().lower(),
                m.Account.status != "closed",
            )
        )
        return [self._record(r) for r in rows]

    def activate(self, account_id: int, *, now: datetime) -> bool:
        """Pending → active once the email link is opened; the address is then verified."""
        result = self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id, m.Account.status == "pending")
            .values(status="active", email_verified=True, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def set_password(
        self, account_id: int, password_hash: str, *, now: datetime, must_change: bool = False
    ) -> None:
        """A new password (not a re-hash): records when, for "password changed" notices."""
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(
                password_hash=password_hash,
                must_change_password=must_change,
                password_changed_at=now,
                updated_at=now,
            )
        )

    def set_email(self, account_id: int, email: str, *, verified: bool, now: datetime) -> None:
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(email=email, email_verified=verified, updated_at=now)
        )

    def accept_terms(self, account_id: int, *, now: datetime) -> None:
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(terms_accepted_at=now, updated_at=now)
        )

    def close(self, account_id: int, *, now: datetime) -> None:
        """Disable, never delete: records stay for the retention period."""
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(status="closed", closed_at=now, updated_at=now)
        )

    def rename(self, account_id: int, username: str, *, now: datetime) -> None:
        """A new user ID (a staff action); unique case-insensitively like any other."""
        try:
            self._s.execute(
                update(m.Account)
                .where(m.Account.id == account_id)
                .values(
                    username=username.strip(), username_key=username_key(username), updated_at=now
                )
            )
        except IntegrityError as exc:
            raise DuplicateError("username") from exc

    def set_status(self, account_id: int, status: str, *, now: datetime) -> None:
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(status=status, updated_at=now)
        )

    def set_phone(self, account_id: int, phone: str, *, verified: bool, now: datetime) -> None:
        """The account's contact number (E.164); a new number is unverified until proven."""
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id)
            .values(phone=phone, phone_verified=verified, updated_at=now)
        )


# --- portals and clients -------------------------------------------------------------------


class PortalRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, *, slug: str, name: str, now: datetime) -> PortalRecord:
        row = m.Portal(slug=slug, name=name, created_at=now)
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:
            raise DuplicateError("slug") from exc
        return PortalRecord(id=row.id, slug=row.slug, name=row.name)

    def by_slug(self, slug: str) -> PortalRecord | None:
        return _portal(self._s.scalar(select(m.Portal).where(m.Portal.slug == slug)))

    def list(self) -> list[PortalRecord]:
        rows = self._s.scalars(select(m.Portal).order_by(m.Portal.id))
        return [PortalRecord(id=r.id, slug=r.slug, name=r.name) for r in rows]


@dataclass(frozen=True, slots=True)
class NewClient:
    name: str
    redirect_uris: Sequence[str]
    post_logout_redirect_uris: Sequence[str]
    scope: str
    grant_types: Sequence[str]
    token_endpoint_auth_method: str
    subject_type: str = "public"
    id_token_signed_response_alg: str = "RS256"
    first_party: bool = False
    pkce_required: bool = True
    require_mfa: bool = False
    portal_id: int | None = None
    client_id: str | None = None
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _record(self, row: m.Client) -> ClientRecord:
        portal = self._s.get(m.Portal, row.portal_id) if row.portal_id else None
        return ClientRecord(
            id=row.id,
            client_id=row.client_id,
            client_secret_hash=row.client_secret_hash,
            name=row.name,
            portal=_portal(portal),
            redirect_uris=tuple(row.redirect_uris),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
            scope=row.scope,
            grant_types=tuple(row.grant_types),
            token_endpoint_auth_method=row.token_endpoint_auth_method,
            subject_type=row.subject_type,
            id_token_signed_response_alg=row.id_token_signed_response_alg,
            first_party=row.first_party,
            pkce_required=row.pkce_required,
            require_mfa=bool(row.require_mfa),
            backchannel_logout_uri=row.backchannel_logout_uri,
            backchannel_logout_session_required=bool(row.backchannel_logout_session_required),
        )

    def add(self, new: NewClient, *, secret_hash: str | None, now: datetime) -> ClientRecord:
        row = m.Client(
            # Hex: a base64url id can start with "-", which command lines read as an option.
            client_id=new.client_id or secrets.token_hex(16),
            client_secret_hash=secret_hash,
            name=new.name,
            portal_id=new.portal_id,
            redirect_uris=list(new.redirect_uris),
            post_logout_redirect_uris=list(new.post_logout_redirect_uris),
            scope=new.scope,
            grant_types=list(new.grant_types),
            token_endpoint_auth_method=new.token_endpoint_auth_method,
            subject_type=new.subject_type,
            id_token_signed_response_alg=new.id_token_signed_response_alg,
            first_party=new.first_party,
            pkce_required=new.pkce_required,
            require_mfa=new.require_mfa,
            backchannel_logout_uri=new.backchannel_logout_uri,
            backchannel_logout_session_required=new.backchannel_logout_session_required,
            created_at=now,
        )
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:
            raise DuplicateError("client_id") from exc
        return self._record(row)

    def by_client_id(self, client_id: str) -> ClientRecord | None:
        row = self._s.scalar(
            select(m.Client).where(m.Client.client_id == client_id, m.Client.removed_at.is_(None))
        )
        return None if row is None else self._record(row)

    def list(self) -> list[ClientRecord]:
        rows = self._s.scalars(
            select(m.Client).where(m.Client.removed_at.is_(None)).order_by(m.Client.id)
        )
        return [self._record(r) for r in rows]

    def set_backchannel_logout(
        self, client_id: str, *, uri: str | None, session_required: bool
    ) -> ClientRecord | None:
        """Register (or, with ``uri=None``, drop) the client's back-channel logout URI."""
        row = self._s.scalar(
            select(m.Client).where(m.Client.client_id == client_id, m.Client.removed_at.is_(None))
        )
        if row is None:
            return None
        row.backchannel_logout_uri = uri
        row.backchannel_logout_session_required = session_required and uri is not None
        self._s.flush()
        return self._record(row)

    def remove(self, client_id: str, *, now: datetime) -> bool:
        """Retire a client; its refresh tokens die with it. Rows stay for the audit trail."""
        row = self._s.scalar(
            select(m.Client).where(m.Client.client_id == client_id, m.Client.removed_at.is_(None))
        )
        if row is None:
            return False
        row.removed_at = now
        self._s.execute(
            update(m.RefreshToken)
            .where(m.RefreshToken.client_id == row.id, m.RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return True


# --- consent -------------------------------------------------------------------------------


class ConsentRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def granted_scopes(self, account_id: int, client_pk: int) -> frozenset[str]:
        row = self._s.scalar(
            select(m.Consent).where(
                m.Consent.account_id == account_id,
                m.Consent.client_id == client_pk,
                m.Consent.revoked_at.is_(None),
            )
        )
        return frozenset(row.scope.split()) if row else frozenset()

    def grant(
        self, account_id: int, client_pk: int, scopes: frozenset[str], *, now: datetime
    ) -> None:
        """Remember consent; scopes already granted stay granted."""
        row = self._s.scalar(
            select(m.Consent).where(
                m.Consent.account_id == account_id, m.Consent.client_id == client_pk
            )
        )
        if row is None:
            self._s.add(
                m.Consent(
                    account_id=account_id,
                    client_id=client_pk,
                    scope=" ".join(sorted(scopes)),
                    granted_at=now,
                )
            )
            return
        previous = frozenset(row.scope.split()) if row.revoked_at is None else frozenset()
        row.scope = " ".join(sorted(previous | scopes))
        row.granted_at = now
        row.revoked_at = None

    def revoke_for_account(self, account_id: int, *, now: datetime) -> int:
        """Withdraw every consent of an account (account closed); rows stay for the audit."""
        result = self._s.execute(
            update(m.Consent)
            .where(m.Consent.account_id == account_id, m.Consent.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


# --- refresh tokens ------------------------------------------------------------------------


class RefreshTokenRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(
        self,
        *,
        token_hash: str,
        family_id: str,
        client_pk: int,
        account_id: int,
        scope: str,
        claims: dict[str, Any] | None,
        auth_time: int,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        self._s.add(
            m.RefreshToken(
                token_hash=token_hash,
                family_id=family_id,
                client_id=client_pk,
                account_id=account_id,
                scope=scope,
                claims=claims,
                auth_time=auth_time,
                issued_at=now,
                expires_at=expires_at,
            )
        )
        self._s.flush()

    def find(self, token_hash: str) -> RefreshTokenRecord | None:
        row = self._s.execute(
            select(m.RefreshToken, m.Client.client_id)
            .join(m.Client, m.Client.id == m.RefreshToken.client_id)
            .where(m.RefreshToken.token_hash == token_hash)
        ).first()
        if row is None:
            return None
        token, client_id = row
        return RefreshTokenRecord(
            id=token.id,
            family_id=token.family_id,
            client_id=client_id,
            account_id=token.account_id,
            scope=token.scope,
            claims=token.claims,
            auth_time=token.auth_time,
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            rotated_at=token.rotated_at,
            revoked_at=token.revoked_at,
        )

    def mark_rotated(self, token_hash: str, *, now: datetime) -> bool:
        """Atomically claim a live token for rotation; False if someone already did.

        ``UPDATE … WHERE rotated_at IS NULL`` lets exactly one of two concurrent
        refreshes win; the loser is treated as reuse.
        """
        result = self._s.execute(
            update(m.RefreshToken)
            .where(
                m.RefreshToken.token_hash == token_hash,
                m.RefreshToken.rotated_at.is_(None),
                m.RefreshToken.revoked_at.is_(None),
            )
            .values(rotated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke(self, token_hash: str, *, now: datetime) -> bool:
        result = self._s.execute(
            update(m.RefreshToken)
            .where(m.RefreshToken.token_hash == token_hash, m.RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_family(self, family_id: str, *, now: datetime) -> int:
        result = self._s.execute(
            update(m.RefreshToken)
            .where(m.RefreshToken.family_id == family_id, m.RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def family_revoked(self, family_id: str) -> bool:
        """A family is dead once any of its tokens was revoked (reuse, RFC 7009, logout)."""
        return (
            self._s.scalar(
                select(m.RefreshToken.id)
                .where(
                    m.RefreshToken.family_id == family_id, m.RefreshToken.revoked_at.is_not(None)
                )
                .limit(1)
            )
            is not None
        )

    def revoke_for_account(self, account_id: int, *, now: datetime) -> list[str]:
        """End every refresh token of an account; returns the families touched."""
        families = list(
            self._s.scalars(
                select(m.RefreshToken.family_id)
                .where(m.RefreshToken.account_id == account_id, m.RefreshToken.revoked_at.is_(None))
                .distinct()
            )
        )
        self._s.execute(
            update(m.RefreshToken)
            .where(m.RefreshToken.account_id == account_id, m.RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return families


# --- audit ---------------------------------------------------------------------------------


def _audit_record(row: m.AuditEvent) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at=row.at,
        type=row.type,
        outcome=row.outcome,
        actor=row.actor,
        subject=row.subject,
        client_id=row.client_id,
        ip=row.ip,
        user_agent=row.user_agent,
        session_id=row.session_id,
        details=row.details or {},
    )


class AuditLog:
    """Append-only: no update at all; the only delete is the retention purge an operator runs.

    Each event joins the hash chain of one segment (idp/audit/chain.py). The rows
    are added at once (same transaction as the change) and chained just before the
    commit; this unit of work keeps to one randomly chosen shard, so concurrent
    transactions spread over the shards instead of queueing on one head row.
    """

    def __init__(self, session: Session, *, shard: int | None = None) -> None:
        self._s = session
        self._shard = secrets.randbelow(SHARDS) if shard is None else shard
        self._unchained: list[m.AuditEvent] = []

    def record(self, entry: AuditEntry, *, now: datetime) -> None:
        row = m.AuditEvent(
            at=now,
            type=entry.type,
            outcome=entry.outcome,
            actor=entry.actor,
            subject=entry.subject,
            client_id=entry.client_id,
            ip=entry.ip,
            user_agent=(entry.user_agent or "")[:256] or None,
            session_id=entry.session_id,
            details=dict(entry.details) or None,
        )
        self._s.add(row)
        if not self._unchained:
            event.listen(self._s, "before_commit", self._chain, once=True)
        self._unchained.append(row)

    def _chain(self, session: Session) -> None:
        # Rows a rolled-back savepoint took out of the session are not committed either.
        rows, self._unchained = [r for r in self._unchained if r in session], []
        audit_chain.append(session, rows, self._shard)

    def purge_before(self, cutoff: datetime, *, key: bytes, now: datetime) -> int:
        """Delete events older than the retention period (``idp retention apply`` only),
        leaving a signed checkpoint per segment so the rest still verifies."""
        return audit_chain.purge_before(self._s, cutoff, key=key, now=now)

    def verify(self, *, key: bytes, since: date | None = None) -> ChainBreak | None:
        """The first break in the hash chains (``idp audit verify``), or None."""
        return audit_chain.verify(self._s, key=key, since=since)

    def search(
        self, f: AuditFilter, *, limit: int = 50, after: Cursor | None = None
    ) -> audit_search.AuditPage:
        """A page of matching events, newest first (keyset paging)."""
        return audit_search.search(self._s, f, limit=limit, after=after)

    def stream(self, f: AuditFilter) -> Iterator[AuditRow]:
        """Every matching event, newest first, in bounded memory (exports)."""
        return audit_search.stream(self._s, f)

    def count_before(self, cutoff: datetime) -> int:
        return int(
            self._s.scalar(select(func.count(m.AuditEvent.id)).where(m.AuditEvent.at < cutoff)) or 0
        )

    def tail(self, limit: int = 50) -> list[AuditRecord]:
        rows = self._s.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id.desc()).limit(limit))
        return [_audit_record(r) for r in reversed(list(rows))]

    def for_subject(self, subject: str, types: Sequence[str], limit: int = 20) -> list[AuditRecord]:
        """The newest events of these types about one account, newest first."""
        rows = self._s.scalars(
            select(m.AuditEvent)
            .where(m.AuditEvent.subject == subject, m.AuditEvent.type.in_(list(types)))
            .order_by(m.AuditEvent.id.desc())
            .limit(limit)
        )
        return [_audit_record(r) for r in rows]


class UnitOfWork:
    """Every repository over one session, so one transaction covers them all.

    Ephemeral writes cannot join the SQL transaction. A step that made one before
    the commit registers its undo with :meth:`on_rollback` (a taken authorization
    code is put back), so that a request that commits nothing also leaves nothing
    behind that a retry would trip over (security invariant 10).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rollback_steps: list[Callable[[], None]] = []
        self.accounts = AccountRepository(session)
        self.portals = PortalRepository(session)
        self.clients = ClientRepository(session)
        self.consents = ConsentRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.audit = AuditLog(session)
        self.outbox = OutboxRepository(session)
        self.action_tokens = ActionTokenRepository(session)
        self.security_answers = SecurityAnswerRepository(session)
        self.portal_links = PortalLinkRepository(session)
        self.invitations = InvitationRepository(session)
        self.enrollments = EnrollmentRepository(session)
        self.candidates = CandidateRepository(session)
        self.credentials = CredentialRepository(session)
        self.patients = PatientRepository(session)
        self.proxy_grants = ProxyGrantRepository(session)
        self.confidential_flags = ConfidentialFlagRepository(session)

    def on_rollback(self, step: Callable[[], None]) -> None:
        """Run ``step`` if this transaction ends without committing."""
        self._rollback_steps.append(step)

    def run_rollback_steps(self) -> None:
        """Undo, newest first; each step is best effort (its store may be the one down)."""
        steps, self._rollback_steps = self._rollback_steps, []
        for step in reversed(steps):
            try:
                step()
            except Exception as error:  # one line, not a traceback: the outage is known
                _log.warning("rollback step failed: %s", error.__class__.__name__)
