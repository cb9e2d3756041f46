"""Repositories over one SQL session: what flows need, named for intent.

A :class:`UnitOfWork` groups them so that a change and its audit event share
one transaction (security invariant 9). Reads return frozen records.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from functools import cached_property
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import (
    CursorResult,
    Executable,
    Select,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, aliased

from idp.audit.chain import SHARDS, ChainBreak
from idp.audit.export import AuditRow
from idp.audit.overview import OverviewEvent, OverviewRange
from idp.audit.search import AuditFilter, Cursor
from idp.records import (
    AccountRecord,
    AuditEntry,
    AuditRecord,
    ClientRecord,
    ConsentRecord,
    PersonRecord,
    PortalRecord,
    RefreshTokenRecord,
)
from idp.store.accounts import DuplicateError, NewPerson, SignInAccount
from idp.store.clients import NewClient as NewClient
from idp.store.credentials import CredentialKind
from idp.store.usernames import username_key

from . import audit_chain, audit_search, committed_audit, pg_driver
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
from .raw_transaction import RawLane, RawTransaction
from .security_answers import SecurityAnswerRepository
from .staff import StaffRepository

_log = logging.getLogger("idp.store")


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
            id=row.id,
            slug=row.slug,
            name=row.name,
            require_mfa=bool(row.require_mfa),
            teen_age=row.proxy_teen_age,
            majority_age=row.proxy_majority_age,
            adult_grant_months=row.proxy_adult_grant_months,
            time_zone=row.time_zone,
        )
    )


# --- accounts ------------------------------------------------------------------------------


# AccountRepository.by_id's columns: the AccountRecord fields, and the person's
# under "person_" names (both tables have id, phone and email).
_ACCOUNT_COLUMNS = (
    m.Account.id,
    m.Account.subject,
    m.Account.username,
    m.Account.password_hash,
    m.Account.email,
    m.Account.email_verified,
    m.Account.phone,
    m.Account.phone_verified,
    m.Account.status,
    m.Account.must_change_password,
    m.Account.created_at,
    m.Account.password_changed_at,
)
_PERSON_COLUMNS = (
    m.Person.id.label("person_pk"),
    m.Person.first_name.label("person_first_name"),
    m.Person.last_name.label("person_last_name"),
    m.Person.dob.label("person_dob"),
    m.Person.zip.label("person_zip"),
    m.Person.gender.label("person_gender"),
    m.Person.phone.label("person_phone"),
    m.Person.email.label("person_email"),
)
# Built once: a statement object memoizes its cache key, so executing it costs no
# expression building and no cache-key walk per request (py-spy: a quarter of
# UserInfo's own query time went to those, issue 12).
_ACCOUNT_BY_ID = (
    select(*_ACCOUNT_COLUMNS, *_PERSON_COLUMNS)
    .outerjoin(m.Person, m.Person.id == m.Account.person_id)
    .where(m.Account.id == bindparam("account_id"))
)

_ACCOUNT_BY_USERNAME_KEY = (
    select(*_ACCOUNT_COLUMNS, *_PERSON_COLUMNS)
    .outerjoin(m.Person, m.Person.id == m.Account.person_id)
    .where(m.Account.username_key == bindparam("key"))
)


# What a password sign-in reads besides the account, as columns of the same row: its
# second factors (the SELECT DISTINCT of CredentialRepository.kinds) and whether it is
# staff. One round trip instead of three (issue 12 item 3), and the same statement for
# every user ID typed, unknown ones included (invariant 4).
def _has_credential(kind: str, *, unused: bool = False) -> Any:
    found = select(m.Credential.id).where(
        m.Credential.account_id == m.Account.id, m.Credential.kind == kind
    )
    if unused:
        found = found.where(m.Credential.used_at.is_(None))
    return found.exists()


_IS_STAFF_COLUMN = (
    select(m.StaffMember.account_id)
    .where(m.StaffMember.account_id == m.Account.id)
    .exists()
    .label("is_staff")
)
_SIGN_IN_COLUMNS = (
    _has_credential(CredentialKind.TOTP).label("has_totp"),
    _has_credential(CredentialKind.WEBAUTHN).label("has_webauthn"),
    # Recovery codes count while one is left unused (as CredentialRepository.kinds).
    _has_credential(CredentialKind.RECOVERY_CODE, unused=True).label("has_recovery_code"),
    _IS_STAFF_COLUMN,
)
_SIGN_IN_BY_USERNAME_KEY = (
    select(*_ACCOUNT_COLUMNS, *_PERSON_COLUMNS, *_SIGN_IN_COLUMNS)
    .outerjoin(m.Person, m.Person.id == m.Account.person_id)
    .where(m.Account.username_key == bindparam("key"))
)
# The authorization endpoint's read of a signed-in account: the staff flag decides
# whether a second factor is needed (issue 9 item 7), in the same round trip.
_ACCOUNT_WITH_STAFF_BY_ID = (
    select(*_ACCOUNT_COLUMNS, *_PERSON_COLUMNS, _IS_STAFF_COLUMN)
    .outerjoin(m.Person, m.Person.id == m.Account.person_id)
    .where(m.Account.id == bindparam("account_id"))
)


def _account_record(found: Any) -> AccountRecord | None:
    """An AccountRecord from a row of ``_ACCOUNT_COLUMNS`` + ``_PERSON_COLUMNS``."""
    if found is None:
        return None
    person = (
        None
        if found.person_pk is None
        else PersonRecord(
            id=found.person_pk,
            first_name=found.person_first_name,
            last_name=found.person_last_name,
            dob=found.person_dob,
            zip=found.person_zip,
            gender=found.person_gender,
            phone=found.person_phone,
            email=found.person_email,
        )
    )
    return AccountRecord(
        id=found.id,
        subject=found.subject,
        username=found.username,
        password_hash=found.password_hash,
        email=found.email,
        email_verified=found.email_verified,
        phone=found.phone,
        phone_verified=found.phone_verified,
        status=found.status,
        must_change_password=found.must_change_password,
        person=person,
        created_at=found.created_at,
        password_changed_at=found.password_changed_at,
    )


class AccountRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _record(self, row: m.Account, person: m.Person | None = None) -> AccountRecord:
        if person is None and row.person_id:
            person = self._s.get(m.Person, row.person_id)
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
        # Every password sign-in starts here: account and person in one statement built
        # once, as by_id (the ORM entity and a second SELECT for the person cost a
        # sign-in two round trips and the identity map's work; issue 12 item 3).
        found = self._s.execute(_ACCOUNT_BY_USERNAME_KEY, {"key": username_key(username)}).first()
        return _account_record(found)

    def for_sign_in(self, username: str) -> SignInAccount | None:
        """The account a password sign-in is for, with its second factors and staff flag
        (:class:`SignInAccount`), in one statement."""
        found = _core(self._s, _SIGN_IN_BY_USERNAME_KEY, {"key": username_key(username)}).first()
        account = _account_record(found)
        if found is None or account is None:
            return None
        factors = frozenset(
            kind
            for kind, present in (
                (CredentialKind.TOTP, found.has_totp),
                (CredentialKind.WEBAUTHN, found.has_webauthn),
                (CredentialKind.RECOVERY_CODE, found.has_recovery_code),
            )
            if present
        )
        return SignInAccount(account=account, factors=factors, staff=bool(found.is_staff))

    def with_staff_flag(self, account_id: int) -> tuple[AccountRecord, bool] | None:
        """:meth:`by_id` and whether the account is staff, in one statement."""
        found = _core(self._s, _ACCOUNT_WITH_STAFF_BY_ID, {"account_id": account_id}).first()
        account = _account_record(found)
        return None if found is None or account is None else (account, bool(found.is_staff))

    def by_id(self, account_id: int) -> AccountRecord | None:
        # Account and person in one round trip: UserInfo and every token request read
        # the account by id (issue 12).
        # Plain columns, not ORM entities: building and tracking two identity-mapped
        # objects was a quarter of UserInfo's CPU (py-spy, issue 12).
        found = _core(self._s, _ACCOUNT_BY_ID, {"account_id": account_id}).first()
        return _account_record(found)

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

    def by_name(
        self, last_name: str, *, first_name: str | None = None, dob: date | None = None, limit: int
    ) -> list[AccountRecord]:
        """Accounts whose person has this last name (and first name, birth date), any
        status: the staff lookup (case-insensitive, exact)."""
        query = (
            select(m.Account)
            .join(m.Person, m.Person.id == m.Account.person_id)
            .where(func.lower(m.Person.last_name) == last_name.strip().lower())
        )
        if first_name:
            query = query.where(func.lower(m.Person.first_name) == first_name.strip().lower())
        if dob is not None:
            query = query.where(m.Person.dob == dob)
        rows = self._s.scalars(query.order_by(m.Account.username_key).limit(limit))
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

    def reopen(self, account_id: int, *, now: datetime) -> None:
        """A closed account may sign in again (a staff action)."""
        self._s.execute(
            update(m.Account)
            .where(m.Account.id == account_id, m.Account.status == "closed")
            .values(status="active", closed_at=None, updated_at=now)
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
        record = _portal(row)
        assert record is not None
        return record

    def by_slug(self, slug: str) -> PortalRecord | None:
        return _portal(self._s.scalar(select(m.Portal).where(m.Portal.slug == slug)))

    def by_id(self, portal_id: int) -> PortalRecord | None:
        return _portal(self._s.get(m.Portal, portal_id))

    def list(self) -> list[PortalRecord]:
        rows = self._s.scalars(select(m.Portal).order_by(m.Portal.id))
        return [r for r in map(_portal, rows) if r is not None]

    def set_require_mfa(self, portal_id: int, required: bool) -> PortalRecord | None:
        """Every client of the practice asks for a second factor (or no longer does)."""
        row = self._s.get(m.Portal, portal_id)
        if row is None:
            return None
        row.require_mfa = required
        self._s.flush()
        return _portal(row)

    def set_proxy_terms(
        self,
        portal_id: int,
        *,
        teen_age: int,
        majority_age: int,
        adult_grant_months: int,
        time_zone: str,
    ) -> PortalRecord | None:
        """Replace the practice's proxy ages and zone (validated by the caller)."""
        row = self._s.get(m.Portal, portal_id)
        if row is None:
            return None
        row.proxy_teen_age = teen_age
        row.proxy_majority_age = majority_age
        row.proxy_adult_grant_months = adult_grant_months
        row.time_zone = time_zone
        self._s.flush()
        return _portal(row)


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

    def update(self, client_id: str, **changes: Any) -> ClientRecord | None:
        """Change a live client's ``client_secret_hash``, ``redirect_uris`` or
        ``require_mfa`` (the staff console's edits); None when there is no such client."""
        allowed = {"client_secret_hash", "redirect_uris", "require_mfa"}
        assert set(changes) <= allowed, set(changes) - allowed
        row = self._s.scalar(
            select(m.Client).where(m.Client.client_id == client_id, m.Client.removed_at.is_(None))
        )
        if row is None:
            return None
        for name, value in changes.items():
            setattr(row, name, list(value) if name == "redirect_uris" else value)
        self._s.flush()
        return self._record(row)

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

    def list_for_account(self, account_id: int) -> list[ConsentRecord]:
        """Live consents of an account, with the client and its practice, by name."""
        rows = self._s.execute(
            select(m.Consent, m.Client, m.Portal)
            .join(m.Client, m.Client.id == m.Consent.client_id)
            .outerjoin(m.Portal, m.Portal.id == m.Client.portal_id)
            .where(
                m.Consent.account_id == account_id,
                m.Consent.revoked_at.is_(None),
                m.Client.removed_at.is_(None),
            )
            .order_by(m.Client.name, m.Client.id)
        )
        return [
            ConsentRecord(
                client_id=client.client_id,
                client_name=client.name,
                portal_name=portal.name if portal is not None else None,
                scopes=tuple(consent.scope.split()),
                granted_at=consent.granted_at,
            )
            for consent, client, portal in rows
        ]

    def revoke(self, account_id: int, client_pk: int, *, now: datetime) -> bool:
        """Withdraw one client's consent; the row stays for the audit trail."""
        result = self._s.execute(
            update(m.Consent)
            .where(
                m.Consent.account_id == account_id,
                m.Consent.client_id == client_pk,
                m.Consent.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_for_account(self, account_id: int, *, now: datetime) -> int:
        """Withdraw every consent of an account (account closed); rows stay for the audit."""
        result = self._s.execute(
            update(m.Consent)
            .where(m.Consent.account_id == account_id, m.Consent.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


# --- refresh tokens ------------------------------------------------------------------------


def _refresh_token_by_hash(*, with_account: bool = False) -> Select[Any]:
    """A refresh token with its client's id and whether its family was revoked: one
    query of plain columns, no ORM objects (issue 12). ``with_account``: the token's
    columns under "rt_" names, and its account and person as ``_ACCOUNT_BY_ID`` reads
    them (the refresh grant needs both: one round trip instead of two)."""
    token = m.RefreshToken
    sibling = aliased(m.RefreshToken)
    family_revoked = (
        select(sibling.id)
        .where(sibling.family_id == token.family_id, sibling.revoked_at.is_not(None))
        .exists()
    )
    prefix = "rt_" if with_account else ""
    columns: list[Any] = [
        token.id.label(f"{prefix}id"),
        token.family_id.label(f"{prefix}family_id"),
        m.Client.client_id.label(f"{prefix}client_id"),
        token.account_id.label(f"{prefix}account_id"),
        token.scope.label(f"{prefix}scope"),
        token.claims.label(f"{prefix}claims"),
        token.auth_time.label(f"{prefix}auth_time"),
        token.issued_at.label(f"{prefix}issued_at"),
        token.expires_at.label(f"{prefix}expires_at"),
        token.rotated_at.label(f"{prefix}rotated_at"),
        token.revoked_at.label(f"{prefix}revoked_at"),
        token.acting_for_person_id.label(f"{prefix}acting_for_person_id"),
        token.sid.label(f"{prefix}sid"),
        family_revoked.label(f"{prefix}family_revoked"),
    ]
    query: Select[Any] = select(*columns).join(m.Client, m.Client.id == token.client_id)
    if with_account:
        query = (
            query.add_columns(*_ACCOUNT_COLUMNS, *_PERSON_COLUMNS)
            .outerjoin(m.Account, m.Account.id == token.account_id)
            .outerjoin(m.Person, m.Person.id == m.Account.person_id)
        )
    return query.where(token.token_hash == bindparam("token_hash"))


def _refresh_token_from_row(row: Any, prefix: str = "") -> RefreshTokenRecord:
    def col(name: str) -> Any:
        return getattr(row, prefix + name)

    return RefreshTokenRecord(
        id=col("id"),
        family_id=col("family_id"),
        client_id=col("client_id"),
        account_id=col("account_id"),
        scope=col("scope"),
        claims=col("claims"),
        auth_time=col("auth_time"),
        issued_at=col("issued_at"),
        expires_at=col("expires_at"),
        rotated_at=col("rotated_at"),
        revoked_at=col("revoked_at"),
        acting_for=col("acting_for_person_id"),
        family_revoked=bool(col("family_revoked")),
        sid=col("sid"),
    )


# Built once (memoized cache keys), like _ACCOUNT_BY_ID.
_REFRESH_TOKEN_BY_HASH = _refresh_token_by_hash()
_REFRESH_TOKEN_WITH_ACCOUNT = _refresh_token_by_hash(with_account=True)
_REFRESH_TOKEN_WITH_ACCOUNT_PG = pg_driver.sql_of(_REFRESH_TOKEN_WITH_ACCOUNT)
_CLAIM_REFRESH_TOKEN = (
    update(m.RefreshToken)
    .where(
        m.RefreshToken.token_hash == bindparam("claim_hash"),
        m.RefreshToken.rotated_at.is_(None),
        m.RefreshToken.revoked_at.is_(None),
    )
    .values(rotated_at=bindparam("claim_at"))
    # find() loads no ORM objects, so there is nothing in the session to synchronise.
    .execution_options(synchronize_session=False)
)


_INSERT_REFRESH_TOKEN = insert(m.RefreshToken)
_INSERT_REFRESH_TOKEN_PG = (
    "INSERT INTO refresh_tokens (token_hash, family_id, client_id, account_id, scope,"
    " claims, auth_time, issued_at, expires_at, acting_for_person_id, sid)"
    " VALUES (%(token_hash)s, %(family_id)s, %(client_id)s, %(account_id)s, %(scope)s,"
    " %(claims)s, %(auth_time)s, %(issued_at)s, %(expires_at)s,"
    " %(acting_for_person_id)s, %(sid)s)"
)
_CLAIM_REFRESH_TOKEN_PG = pg_driver.sql_of(_CLAIM_REFRESH_TOKEN)


def _claim_with_account() -> Select[Any]:
    """PostgreSQL: claim the token for rotation and read it with its account, in one
    statement (a refresh's first; the claim was a second round trip, issue 12).

    The UPDATE (a data-modifying CTE) claims as ``_CLAIM_REFRESH_TOKEN`` does, taking
    the row lock, so exactly one of two concurrent refreshes wins; the SELECT shows the
    row as it was before (one snapshot for the whole statement), with ``rt_claimed``
    saying whether the claim took.
    """
    token = m.RefreshToken
    claimed = (
        update(token)
        .where(
            token.token_hash == bindparam("token_hash"),
            token.rotated_at.is_(None),
            token.revoked_at.is_(None),
        )
        .values(rotated_at=bindparam("claim_at"))
        .returning(token.id)
        .cte("claimed")
    )
    return _REFRESH_TOKEN_WITH_ACCOUNT.add_columns(
        select(claimed.c.id).exists().label("rt_claimed")
    )


_CLAIM_WITH_ACCOUNT_PG = pg_driver.sql_of(_claim_with_account())
_UNCLAIM_REFRESH_TOKEN = (
    update(m.RefreshToken)
    .where(m.RefreshToken.id == bindparam("unclaim_id"))
    .values(rotated_at=None)
    .execution_options(synchronize_session=False)
)


def _pending_changes(session: Session) -> bool:
    """Whether a flush would write anything. ``Session.dirty`` walks the identity map
    and cost 2 % of a token request on its own: an empty map has nothing dirty."""
    if session.new or session.deleted:
        return True
    return bool(len(session.identity_map) and session.dirty)


# Session.info key: refresh-token INSERTs (psycopg parameters) not sent yet.
_DEFERRED_INSERTS = "idp_deferred_refresh_tokens"


def defer_refresh_tokens(session: Session, deferred: list[dict[str, Any]]) -> None:
    """Hand a session the refresh-token INSERTs held back before it was opened (on a
    :class:`~idp.store.sql.raw_transaction.RawTransaction`'s connection)."""
    session.info.setdefault(_DEFERRED_INSERTS, []).extend(deferred)


def _send_deferred(session: Session) -> None:
    """Send the refresh-token INSERTs ``RefreshTokenRepository.add`` held back, before
    any other statement of the transaction (which might read or change them)."""
    deferred = session.info.pop(_DEFERRED_INSERTS, None)
    if deferred:
        connection = session.connection()
        for params in deferred:
            pg_driver.execute(connection, _INSERT_REFRESH_TOKEN_PG, params)


def _core(session: Session, statement: Executable, params: dict[str, Any]) -> CursorResult[Any]:
    """Run a Core statement on the session's connection, without the ORM's execute
    machinery (compile state, autoflush checks: a seventh of a refresh, issue 12).

    Only when there is nothing to autoflush; otherwise through the session, so the
    statement still sees this transaction's pending ORM changes. A read-only unit of
    work still refuses anything but a SELECT (its connection autocommits).
    """
    _send_deferred(session)
    if _pending_changes(session):
        return session.execute(statement, params)  # type: ignore[return-value]
    if session.info.get(READ_ONLY) and not getattr(statement, "is_select", False):
        raise ReadOnlyError("a read-only unit of work cannot write")
    return session.connection().execute(statement, params)


class RefreshTokenRepository:
    def __init__(
        self,
        session: Session | Callable[[], Session],
        raw: Callable[[], RawTransaction | None] | None = None,
    ) -> None:
        # A session, or (a unit of work with a raw lane) how to open one.
        self._session = session if isinstance(session, Session) else None
        self._open = None if isinstance(session, Session) else session
        # PostgreSQL: the unit of work's transaction straight on psycopg while it has
        # opened no Session (idp/store/sql/raw_transaction.py); None once it has.
        self._raw = raw

    @property
    def _s(self) -> Session:
        if self._session is None:
            assert self._open is not None
            self._session = self._open()
        return self._session

    def _raw_transaction(self) -> RawTransaction | None:
        if self._raw is None or self._session is not None:
            return None
        return self._raw()

    def _postgres_direct(self) -> bool:
        """Whether a refresh's statements may go straight to psycopg: PostgreSQL, a
        transaction that may write, nothing pending that a flush must send first."""
        if self._s.info.get(READ_ONLY) or _pending_changes(self._s):
            return False
        _send_deferred(self._s)
        return self._s.connection().dialect.name == "postgresql"

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
        acting_for: int | None = None,
        sid: str | None = None,
    ) -> None:
        # One INSERT, sent now: an ORM object here cost a flush with its unit-of-work
        # machinery at commit, a tenth of a refresh (py-spy, issue 12). On PostgreSQL
        # straight to psycopg (claims as JSON, timestamps checked to be aware, as
        # UTCDateTime would).
        for stamp in (now, expires_at):
            if stamp.tzinfo is None:
                raise ValueError("naive datetime given for a refresh token")
        params: dict[str, Any] = {
            "acting_for_person_id": acting_for,
            "sid": sid,
            "token_hash": token_hash,
            "family_id": family_id,
            "client_id": client_pk,
            "account_id": account_id,
            "scope": scope,
            "claims": claims,
            "auth_time": auth_time,
            "issued_at": now,
            "expires_at": expires_at,
        }
        raw = self._raw_transaction()
        if raw is not None:
            # Sent with the commit's lock of the audit chain head (RawTransaction.commit).
            raw.deferred.append({**params, "claims": Json(claims)})
            return
        if self._postgres_direct():
            direct = {**params, "claims": Json(claims)}
            if self._s.get_nested_transaction() is None:
                # Sent with the commit's lock of the audit chain head, one statement
                # for both (audit_chain.append): a round trip less per token. Any
                # statement before then sends it first (_send_deferred).
                self._s.info.setdefault(_DEFERRED_INSERTS, []).append(direct)
                return
            pg_driver.execute(self._s.connection(), _INSERT_REFRESH_TOKEN_PG, direct)
            return
        _core(self._s, _INSERT_REFRESH_TOKEN, params)

    def find(self, token_hash: str) -> RefreshTokenRecord | None:
        row = _core(self._s, _REFRESH_TOKEN_BY_HASH, {"token_hash": token_hash}).first()
        return None if row is None else _refresh_token_from_row(row)

    def find_with_account(
        self, token_hash: str
    ) -> tuple[RefreshTokenRecord, AccountRecord | None] | None:
        """The token and its account (None if the account is gone), in one query.

        Every refresh's first statement: on PostgreSQL straight to psycopg
        (idp/store/sql/pg_driver.py), SQLAlchemy's result processing of its 33
        columns being most of its cost (issue 12).
        """
        params = {"token_hash": token_hash}
        row: Any
        _send_deferred(self._s)
        if _pending_changes(self._s):
            row = self._s.execute(_REFRESH_TOKEN_WITH_ACCOUNT, params).first()
        else:
            connection = self._s.connection()
            if connection.dialect.name == "postgresql":
                row = pg_driver.first(connection, _REFRESH_TOKEN_WITH_ACCOUNT_PG, params)
            else:
                row = connection.execute(_REFRESH_TOKEN_WITH_ACCOUNT, params).first()
        if row is None:
            return None
        account = None if row.id is None else _account_record(row)
        return _refresh_token_from_row(row, "rt_"), account

    def claim_with_account(
        self, token_hash: str, *, now: datetime
    ) -> tuple[RefreshTokenRecord, AccountRecord | None, bool] | None:
        """The token as it was, its account, and whether this transaction claimed it
        for rotation (``mark_rotated``'s claim: False when it was rotated or revoked
        already, or another refresh claimed it first); None if there is no such token.

        Claimed before the caller has judged it (one statement on PostgreSQL, see
        ``_claim_with_account``): a token the caller then refuses (another client's,
        expired, a revoked family, a scope too wide) is given back with
        :meth:`unclaim` in the same transaction, so refusing leaves it as it was.
        """
        raw = self._raw_transaction()
        if raw is not None or self._postgres_direct():
            params = {"token_hash": token_hash, "claim_at": now}
            connection = raw.driver() if raw is not None else self._s.connection()
            row = pg_driver.first(connection, _CLAIM_WITH_ACCOUNT_PG, params)
            if row is None:
                return None
            account = None if row.id is None else _account_record(row)
            return _refresh_token_from_row(row, "rt_"), account, bool(row.rt_claimed)
        found = self.find_with_account(token_hash)
        if found is None:
            return None
        record, account = found
        claimed = (
            record.rotated_at is None
            and record.revoked_at is None
            and self.mark_rotated(token_hash, now=now)
        )
        return record, account, claimed

    def unclaim(self, token_id: int) -> None:
        """Give back a claim of :meth:`claim_with_account` (this transaction's own, so
        the row is still locked by it and ``rotated_at`` was NULL before)."""
        _core(self._s, _UNCLAIM_REFRESH_TOKEN, {"unclaim_id": token_id})

    def mark_rotated(self, token_hash: str, *, now: datetime) -> bool:
        """Atomically claim a live token for rotation; False if someone already did.

        ``UPDATE … WHERE rotated_at IS NULL`` lets exactly one of two concurrent
        refreshes win; the loser is treated as reuse.
        """
        params = {"claim_hash": token_hash, "claim_at": now}
        if self._postgres_direct():
            claimed = pg_driver.execute(self._s.connection(), _CLAIM_REFRESH_TOKEN_PG, params)
            return bool(claimed.rowcount)
        return bool(_core(self._s, _CLAIM_REFRESH_TOKEN, params).rowcount)

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

    def revoke_for_client(self, account_id: int, client_pk: int, *, now: datetime) -> list[str]:
        """End an account's refresh tokens at one client; returns the families touched."""
        live = (
            m.RefreshToken.account_id == account_id,
            m.RefreshToken.client_id == client_pk,
            m.RefreshToken.revoked_at.is_(None),
        )
        families = list(self._s.scalars(select(m.RefreshToken.family_id).where(*live).distinct()))
        self._s.execute(update(m.RefreshToken).where(*live).values(revoked_at=now))
        return families

    def revoke_for_sessions(self, sids: Sequence[str], *, now: datetime) -> list[str]:
        """End the tokens bound to these SSO sessions; returns the families touched.

        Only tokens issued without ``offline_access`` carry a ``sid``, so the ones the
        patient granted to outlive the session are untouched.
        """
        if not sids:
            return []
        live = (m.RefreshToken.sid.in_(list(sids)), m.RefreshToken.revoked_at.is_(None))
        families = list(self._s.scalars(select(m.RefreshToken.family_id).where(*live).distinct()))
        if families:
            self._s.execute(
                update(m.RefreshToken)
                .where(m.RefreshToken.family_id.in_(families), m.RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return families

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

    Each event joins the hash chain of one segment (idp/audit/chain.py). Events
    are kept as column values and chained and inserted just before the commit of
    the change's own transaction (or before this transaction reads the trail); this
    unit of work keeps to one randomly chosen shard, so concurrent transactions
    spread over the shards instead of queueing on one head row.
    """

    def __init__(
        self,
        session: Session | Callable[[], Session],
        *,
        shard: int | None = None,
        read_only: bool = False,
    ) -> None:
        # A session, or (a lazy unit of work) how to open one: recording needs none,
        # so an audit-only transaction never opens one (see UnitOfWork).
        self._session: Session | None = session if isinstance(session, Session) else None
        self._open: Callable[[], Session] | None = None if isinstance(session, Session) else session
        self._read_only = read_only
        self._shard = secrets.randbelow(SHARDS) if shard is None else shard
        # A log pinned to a shard (tests, tools) keeps to it: only one left to chance
        # may hand its events to the group committer, which picks its own shard.
        self._any_shard = shard is None
        # Column values of events recorded but not yet written: plain dicts, not ORM
        # objects, written by one Core INSERT just before the commit (issue 12).
        self._pending: list[dict[str, Any]] = []
        # The savepoint open when each pending event was recorded (None: none was).
        self._savepoints: list[SessionTransaction | None] = []
        self._listening = False

    @property
    def _s(self) -> Session:
        """The session, opened now if the unit of work had not opened one yet."""
        if self._session is None:
            assert self._open is not None
            self._attach(self._open())
        assert self._session is not None
        return self._session

    def _attach(self, session: Session) -> None:
        """The unit of work opened its session: events recorded until now are written
        in its transaction (they were recorded outside any savepoint)."""
        if self._session is session:
            return
        self._session = session
        if self._pending:
            self._listen(session)

    def _listen(self, session: Session) -> None:
        # Class-level hooks (below) find this log here; listening per session cost
        # more than the rest of recording (SQLAlchemy builds per-instance event
        # collections: 9% of a token request, py-spy, issue 12).
        if not self._listening:
            session.info.setdefault(_AUDIT_LOGS, []).append(self)
            self._listening = True

    def record(self, entry: AuditEntry, *, now: datetime) -> None:
        session = self._session
        if self._read_only or (session is not None and session.info.get(READ_ONLY)):
            # An event that would be dropped with the read-only session: refuse loudly.
            raise ReadOnlyError("audit events need a transaction (Database.transaction)")
        savepoint = None
        if session is not None:
            if session.get_transaction() is None:
                # As session.add() would: the event belongs to a transaction, and only
                # a begun one reports its rollback (after_soft_rollback) to take it back.
                session.begin()
            self._listen(session)
            savepoint = session.get_nested_transaction()
        self._savepoints.append(savepoint)
        self._pending.append(
            {
                "at": now,
                "type": entry.type,
                "outcome": entry.outcome,
                "actor": entry.actor,
                "subject": entry.subject,
                "client_id": entry.client_id,
                "ip": entry.ip,
                "user_agent": (entry.user_agent or "")[:256] or None,
                "session_id": entry.session_id,
                "details": dict(entry.details) or None,
            }
        )

    def _take_pending(self) -> list[dict[str, Any]]:
        """What was recorded, handed to the caller (a commit without a session)."""
        events, self._pending, self._savepoints = self._pending, [], []
        return events

    def _write_pending(self, *, at_commit: bool = False) -> None:
        """Chain and insert what was recorded: before the commit, or before this
        transaction reads the trail (so it sees its own events, as autoflush did).

        At the commit of a transaction that wrote nothing else (no statement sent,
        nothing to flush: a client_credentials grant), the events go to the
        process's group committer instead (idp/store/sql/audit_committer.py), which
        returns once they are durable; this transaction then commits nothing.
        """
        events, self._pending, self._savepoints = self._pending, [], []
        if not events:
            return
        committer = self._s.info.get(AUDIT_COMMITTER)
        if at_commit and self._any_shard and committer is not None and _wrote_nothing(self._s):
            committer.write(events)
        else:
            deferred = self._s.info.pop(_DEFERRED_INSERTS, None) or []
            # One refresh token rides with the head lock (PostgreSQL: one statement).
            carried = deferred.pop() if deferred else None
            if deferred:
                self._s.info[_DEFERRED_INSERTS] = deferred
                _send_deferred(self._s)
            carry = None if carried is None else (_INSERT_REFRESH_TOKEN_PG, carried)
            audit_chain.append(self._s, events, self._shard, carry=carry)
        committed_audit.note_written(self._s, events)

    def _forget_pending(self, previous: SessionTransaction) -> None:
        """A rollback takes back the events recorded in what it rolled back: all of
        them, or for a savepoint those recorded while it was open."""
        if not previous.nested:
            self._pending, self._savepoints = [], []
            return
        kept = [
            (v, sp)
            for v, sp in zip(self._pending, self._savepoints, strict=True)
            if sp is not previous
        ]
        self._pending = [v for v, _ in kept]
        self._savepoints = [sp for _, sp in kept]

    def purge_before(self, cutoff: datetime, *, key: bytes, now: datetime) -> int:
        """Delete events older than the retention period (``idp retention apply`` only),
        leaving a signed checkpoint per segment so the rest still verifies."""
        self._write_pending()
        return audit_chain.purge_before(self._s, cutoff, key=key, now=now)

    def verify(self, *, key: bytes, since: date | None = None) -> ChainBreak | None:
        """The first break in the hash chains (``idp audit verify``), or None."""
        self._write_pending()
        return audit_chain.verify(self._s, key=key, since=since)

    def search(
        self, f: AuditFilter, *, limit: int = 50, after: Cursor | None = None
    ) -> audit_search.AuditPage:
        """A page of matching events, newest first (keyset paging)."""
        self._write_pending()
        return audit_search.search(self._s, f, limit=limit, after=after)

    def stream(self, f: AuditFilter) -> Iterator[AuditRow]:
        """Every matching event, newest first, in bounded memory (exports)."""
        self._write_pending()
        return audit_search.stream(self._s, f)

    def overview_events(
        self, rng: OverviewRange, *, scope: frozenset[str] | None = None
    ) -> Iterator[OverviewEvent]:
        """The sign-in overview's events of a range, streamed (idp/audit/overview.py)."""
        self._write_pending()
        return audit_search.overview_events(self._s, rng, scope=scope)

    def count_before(self, cutoff: datetime) -> int:
        self._write_pending()
        return int(
            self._s.scalar(select(func.count(m.AuditEvent.id)).where(m.AuditEvent.at < cutoff)) or 0
        )

    def tail(self, limit: int = 50) -> list[AuditRecord]:
        self._write_pending()
        rows = self._s.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id.desc()).limit(limit))
        return [_audit_record(r) for r in reversed(list(rows))]

    def for_subject(self, subject: str, types: Sequence[str], limit: int = 20) -> list[AuditRecord]:
        """The newest events of these types about one account, newest first."""
        self._write_pending()
        rows = self._s.scalars(
            select(m.AuditEvent)
            .where(m.AuditEvent.subject == subject, m.AuditEvent.type.in_(list(types)))
            .order_by(m.AuditEvent.id.desc())
            .limit(limit)
        )
        return [_audit_record(r) for r in rows]

    def by_actor(self, actor: str, types: Sequence[str], limit: int = 20) -> list[AuditRecord]:
        """The newest events of these types done by one actor, newest first (a
        representative's own proxy actions on the account page)."""
        self._write_pending()
        rows = self._s.scalars(
            select(m.AuditEvent)
            .where(m.AuditEvent.actor == actor, m.AuditEvent.type.in_(list(types)))
            .order_by(m.AuditEvent.id.desc())
            .limit(limit)
        )
        return [_audit_record(r) for r in rows]


# Session.info key: the audit logs of a session that have recorded events.
_AUDIT_LOGS = "idp_audit_logs"
# Session.info key: the AuditGroupCommitter of the database (PostgreSQL only).
AUDIT_COMMITTER = "idp_audit_committer"


def _wrote_nothing(session: Session) -> bool:
    """True when this transaction has sent no statement and has nothing to flush:
    committing its audit events on their own is then the same as committing it."""
    transaction = session.get_transaction()
    connections = getattr(transaction, "_connections", None)
    if transaction is None or transaction.nested or connections is None or connections:
        return False
    return not _pending_changes(session) and not session.info.get(_DEFERRED_INSERTS)


@event.listens_for(Session, "before_commit")
def _write_pending_audit(session: Session) -> None:
    """Just before any commit: chain and insert what the session's audit logs hold."""
    logs = session.info.get(_AUDIT_LOGS, ())
    # Only the first log may hand its events over: once it has, a second log of the
    # same session must not see a transaction that still "wrote nothing".
    for number, log in enumerate(logs):
        log._write_pending(at_commit=number == 0 and len(logs) == 1)
    _send_deferred(session)  # those no audit write carried


@event.listens_for(Session, "do_orm_execute")
def _deferred_before_orm(state: ORMExecuteState) -> None:
    """An ORM statement (a flow's UPDATE of refresh tokens, say) sees them written."""
    if _DEFERRED_INSERTS in state.session.info:
        _send_deferred(state.session)


@event.listens_for(Session, "after_transaction_create")
def _no_savepoint_over_deferred(session: Session, transaction: SessionTransaction) -> None:
    """A savepoint's rollback would take back an INSERT sent inside it that belongs to
    the enclosing transaction: begin one only with nothing held back."""
    if transaction.nested and session.info.get(_DEFERRED_INSERTS):
        raise RuntimeError("refresh token INSERT held back: no savepoint until it is sent")


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending_audit(session: Session, previous: SessionTransaction) -> None:
    for log in session.info.get(_AUDIT_LOGS, ()):
        log._forget_pending(previous)
    if not previous.nested:
        session.info.pop(_DEFERRED_INSERTS, None)  # rolled back with its transaction


# Session.info flag of the units of work Database.reader() opens.
READ_ONLY = "idp_read_only"


class ReadOnlyError(RuntimeError):
    """A write was attempted through ``Database.reader()`` (a programming error)."""


class UnitOfWork:
    """Every repository over one session, so one transaction covers them all.

    Ephemeral writes cannot join the SQL transaction. A step that made one before
    the commit registers its undo with :meth:`on_rollback` (a taken authorization
    code is put back), so that a request that commits nothing also leaves nothing
    behind that a retry would trip over (security invariant 10).

    The session is opened on first use when the unit of work is given an ``opener``
    (``Database.transaction`` and ``reader`` do): a request whose only write is an
    audit event (a client_credentials grant, the revocation of an access token)
    records it without one, and its commit is the hand-off to the group committer
    alone: no Session, no SQLAlchemy transaction, no pooled connection (issue 12;
    the empty session's begin and commit were a tenth of such a request).
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        opener: Callable[[], Session] | None = None,
        read_only: bool = False,
        raw_lane: RawLane | None = None,
    ) -> None:
        if (session is None) == (opener is None):
            raise TypeError("give a session or an opener")
        self._session = session
        self._opener = opener
        self._read_only = read_only
        self._rollback_steps: list[Callable[[], None]] = []
        # PostgreSQL transactions: the refresh grant's statements may run straight on
        # psycopg until something opens the session (idp/store/sql/raw_transaction.py).
        self._raw_lane = raw_lane
        self._raw: RawTransaction | None = None

    @property
    def session(self) -> Session:
        """The unit of work's session (opened, and its transaction begun, on first use;
        on the raw transaction's connection if one was begun)."""
        session = self._session
        if session is None:
            assert self._opener is not None
            raw = self._raw
            session = self._session = raw.session() if raw is not None else self._opener()
            audit = self.__dict__.get("audit")
            if audit is not None:  # events recorded before join this transaction
                audit._attach(session)
        return session

    def _raw_transaction(self) -> RawTransaction | None:
        """The raw transaction (begun now if need be), or None: no raw lane, or the
        session is open (everything then goes through it)."""
        if self._session is not None or self._raw_lane is None:
            return None
        if self._raw is None:
            self._raw = RawTransaction(self._raw_lane)
        return self._raw

    @property
    def opened(self) -> bool:
        """Whether the session has been opened (nothing durable was touched if not)."""
        return self._session is not None or self._raw is not None

    def take_audit_only(self) -> list[dict[str, Any]] | None:
        """The events of a unit of work that opened no session and may hand them to the
        group committer (recorded on a shard left to chance), taken from the log; None
        otherwise (the commit then goes through the session)."""
        if self._session is not None or self._raw is not None:
            return None
        audit = self.__dict__.get("audit")
        if audit is None or not audit._any_shard:
            return None
        return audit._take_pending()  # type: ignore[no-any-return]

    def close(self, *, commit: bool) -> None:
        """Commit (or roll back) and close the session. Without one, a commit of events
        still pending (no group committer took them: SQLite, a pinned shard) opens it
        to write them; a rollback just drops them."""
        raw = self._raw
        if self._session is None and raw is not None:
            # Only the raw transaction: commit it straight on psycopg (or drop it).
            audit = self.__dict__.get("audit")
            events = audit._take_pending() if audit is not None else []
            if commit:
                shard = audit._shard if audit is not None else 0
                raw.commit(events, shard, _INSERT_REFRESH_TOKEN_PG)
            else:
                raw.close()
            return
        if self._session is None:
            audit = self.__dict__.get("audit")
            if audit is None or not audit._pending:
                return
            if not commit:
                audit._take_pending()
                return
        session = self.session
        try:
            if commit:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()
            if raw is not None:
                raw.close()  # the session was opened on its connection: give it back

    def discard(self) -> None:
        """Close the session, if one was opened, committing nothing (a reader's end)."""
        if self._session is not None:
            self._session.close()
        if self._raw is not None:
            self._raw.close()

    # Each repository is made on first use: a request touches two or three of
    # them, and building all of them was 4 % of a token request (issue 12).
    @cached_property
    def accounts(self) -> AccountRepository:
        return AccountRepository(self.session)

    @cached_property
    def portals(self) -> PortalRepository:
        return PortalRepository(self.session)

    @cached_property
    def clients(self) -> ClientRepository:
        return ClientRepository(self.session)

    @cached_property
    def consents(self) -> ConsentRepository:
        return ConsentRepository(self.session)

    @cached_property
    def refresh_tokens(self) -> RefreshTokenRepository:
        if self._raw_lane is not None and self._session is None:
            # Not opening the session: the grant's statements may go straight to psycopg.
            return RefreshTokenRepository(lambda: self.session, self._raw_transaction)
        return RefreshTokenRepository(self.session)

    @cached_property
    def audit(self) -> AuditLog:
        # Not opening the session: recording needs none (see the class docstring).
        if self._session is not None:
            return AuditLog(self._session, read_only=self._read_only)
        return AuditLog(lambda: self.session, read_only=self._read_only)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session)

    @cached_property
    def action_tokens(self) -> ActionTokenRepository:
        return ActionTokenRepository(self.session)

    @cached_property
    def security_answers(self) -> SecurityAnswerRepository:
        return SecurityAnswerRepository(self.session)

    @cached_property
    def portal_links(self) -> PortalLinkRepository:
        return PortalLinkRepository(self.session)

    @cached_property
    def invitations(self) -> InvitationRepository:
        return InvitationRepository(self.session)

    @cached_property
    def enrollments(self) -> EnrollmentRepository:
        return EnrollmentRepository(self.session)

    @cached_property
    def candidates(self) -> CandidateRepository:
        return CandidateRepository(self.session)

    @cached_property
    def credentials(self) -> CredentialRepository:
        return CredentialRepository(self.session)

    @cached_property
    def patients(self) -> PatientRepository:
        return PatientRepository(self.session)

    @cached_property
    def proxy_grants(self) -> ProxyGrantRepository:
        return ProxyGrantRepository(self.session)

    @cached_property
    def confidential_flags(self) -> ConfidentialFlagRepository:
        return ConfidentialFlagRepository(self.session)

    @cached_property
    def staff(self) -> StaffRepository:
        return StaffRepository(self.session)

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
