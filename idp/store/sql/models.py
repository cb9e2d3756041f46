"""SQLAlchemy models: the durable state (DESIGN.md, "Where state lives").

These classes stay inside ``idp.store.sql``; flows receive the frozen records of
:mod:`idp.records` instead, so no ORM object (and no lazy load) leaks past a
transaction. Every schema change goes through an Alembic revision in
``migrations/versions`` that runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL keeps the zone (``timestamptz``); SQLite returns naive values, which
    would make comparisons with aware datetimes raise. Store UTC, return aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Person(Base):
    """A human's demographics (DESIGN.md): what identity matching works on."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    dob: Mapped[date | None] = mapped_column(Date, nullable=True)
    zip: Mapped[str | None] = mapped_column(String(10), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(20), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Account(Base):
    """A person's login. ``subject`` is the stable public ``sub``, never the row id."""

    __tablename__ = "accounts"
    # Candidate search joins persons to accounts: without this, every sign-up scans accounts.
    __table_args__ = (Index("ix_accounts_person_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    # Case-insensitive uniqueness (DESIGN.md: user ID unique, case-insensitive).
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True)
    # active | disabled | pending
    status: Mapped[str] = mapped_column(String(16), default="active")
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the patient accepted the terms of use (self sign-up); None for office-made accounts
    # until their first sign-in.
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the account was closed by its owner (cancel account) or by staff.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Portal(Base):
    """A practice or organisation; it owns one or more clients."""

    __tablename__ = "portals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Whether this practice is named in "you already have an account" emails (the FAQ's
    # list of practices). Being a patient of some practices is itself sensitive.
    # Every client of this practice asks for a second factor (issue 9; migration 0010).
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    listed_in_account_emails: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    # Proxy access on this practice's terms (issue 10 item 3; migration 0011): from the
    # teen birthday a parent's access is limited (state law: 12, 13 or 14), at the age of
    # majority a minor's grant ends, an adult's own grant lapses after the period unless
    # renewed; every birthday and expiry begins at midnight in the practice's IANA zone.
    proxy_teen_age: Mapped[int] = mapped_column(Integer, default=13, server_default="13")
    proxy_majority_age: Mapped[int] = mapped_column(Integer, default=18, server_default="18")
    proxy_adult_grant_months: Mapped[int] = mapped_column(Integer, default=18, server_default="18")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")


class Client(Base):
    """An OIDC relying party (OIDC Registration §2 metadata, the subset we honour)."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of a 256-bit random secret (high entropy: a fast hash is enough).
    client_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    portal_id: Mapped[int | None] = mapped_column(ForeignKey("portals.id"), nullable=True)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(Text)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(16), default="public")
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16), default="RS256")
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    # Certification clients only: the OpenID conformance suite's Basic plan runs
    # without PKCE. Everyone else keeps PKCE S256 required.
    pkce_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # No code for a sign-in without a second factor (issue 9; migration 0010).
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    # OpenID Connect Back-Channel Logout 1.0 §2.2 (migration 0019): where a logout
    # token is POSTed when a session that signed in to this client ends.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Consent(Base):
    """Scopes a patient allowed a client; remembered so consent is asked once."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("account_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RefreshToken(Base):
    """One refresh token of a grant family (the tokens descended from one code).

    Rotation marks the presented token ``rotated_at``; presenting a rotated token
    again is reuse and revokes the whole family (OAuth 2.0 Security BCP §4.14.2).
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_sid", "sid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    scope: Mapped[str] = mapped_column(Text)
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A representative's token family acting for this person (issue 10): each refresh
    # asks the proxy policy again, at that moment. No foreign key: persons are never deleted.
    acting_for_person_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The SSO session's ``sid`` for tokens issued without ``offline_access``: they end
    # with that session (Back-Channel Logout §2.7). None: the token outlives sessions.
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditEvent(Base):
    """Append-only record of a security-relevant event (standards.md §4)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_subject", "subject"),
        # A representative's own proxy actions, newest first (account page, issue 10).
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_type", "type"),
        Index("ix_audit_events_chain", "segment", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    # Who acted: an account subject, "staff:<name>", a client_id, or "anonymous".
    actor: Mapped[str] = mapped_column(String(128))
    # Whom it concerned (an account subject), if anyone.
    subject: Mapped[str | None] = mapped_column(String(128), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(256), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Reason codes and non-secret context; never passwords, answers, codes or tokens.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The hash chain (idp/audit/chain.py): segment "<UTC day>/<shard>", position in it,
    # and SHA-256 over the fields above plus the previous event's hash.
    segment: Mapped[str | None] = mapped_column(String(16), nullable=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditChainHead(Base):
    """The last sequence number and hash of one audit segment.

    Writers lock this row (SELECT ... FOR UPDATE) in the transaction that appends
    the event, so two writers can never extend the same chain from the same point.
    """

    __tablename__ = "audit_chain_heads"

    segment: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Where a segment's chain resumes after retention purged its start (HMAC-signed)."""

    __tablename__ = "audit_checkpoints"

    segment: Mapped[str] = mapped_column(String(16), primary_key=True)
    through_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """An email or SMS waiting to be sent, or already sent (transactional outbox).

    Flows insert rows in the same transaction as the change they announce, so a
    rolled-back change sends nothing; a dispatcher sends them after the commit
    and retries temporary failures (``idp.notify.outbox``).
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "email" | "sms"
    channel: Mapped[str] = mapped_column(String(8))
    # An email address or an E.164 phone number.
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Bodies may carry one-time links or codes: they are blanked once the message
    # is sent or has failed for good (outside development), see OutboxRepository.
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The template's stable name, e.g. "verify_email".
    template: Mapped[str] = mapped_column(String(64))
    # The email Message-ID (and the webhook's idempotency key): receivers de-duplicate on it.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    # pending | sending | sent | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Claims so far (a claim counts even if the sender crashed before answering).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # While "sending": when another dispatcher may assume this one crashed and reclaim it.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A short code such as "smtp 451 4.3.0"; never message content or credentials.
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SecurityAnswer(Base):
    """One security question of an account and its argon2id answer hash."""

    __tablename__ = "security_answers"
    __table_args__ = (UniqueConstraint("account_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    position: Mapped[int] = mapped_column(Integer)
    # A key of idp.policies.security_questions.CURATED_QUESTIONS, or "custom".
    question_id: Mapped[str] = mapped_column(String(32))
    custom_text: Mapped[str | None] = mapped_column(String(200), nullable=True)
    answer_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActionToken(Base):
    """A single-use emailed link: verify an email, confirm a password reset, change email.

    Only the SHA-256 of the token is stored (security invariant 5); consuming it
    is one conditional UPDATE, so a link works at most once even when clicked
    twice at the same moment.
    """

    __tablename__ = "action_tokens"
    __table_args__ = (Index("ix_action_tokens_account_id_purpose", "account_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # verify_email | reset_password | change_email | ...
    purpose: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # Non-secret context the action needs (e.g. the new email address).
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PortalLink(Base):
    """A patient's record at one practice: the practice's own patient identifier (MRN).

    The record belongs to an account, or (a young child, issue 10 item 1) to a person
    without an account: then ``account_id`` is empty and ``person_id`` names the person.
    """

    __tablename__ = "portal_links"
    __table_args__ = (
        UniqueConstraint("portal_id", "account_id"),
        UniqueConstraint("portal_id", "patient_id"),
        UniqueConstraint("portal_id", "person_id"),
        CheckConstraint("account_id IS NOT NULL OR person_id IS NOT NULL", name="owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), nullable=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id"))
    patient_id: Mapped[str] = mapped_column(String(64))
    # invited | active | revoked
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_signin_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Invitation(Base):
    """A practice's offer to link one of its patient records to an account.

    The activation code is emailed; only its SHA-256 is stored. The expected
    demographics are what the activation page checks (date of birth and zip).
    """

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_portal_id_patient_id", "portal_id", "patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id"))
    patient_id: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    dob: Mapped[date] = mapped_column(Date)
    zip: Mapped[str] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(20), nullable=True)
    email: Mapped[str] = mapped_column(String(254))
    # pending | activated | revoked
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)


class PersonBlockingKey(Base):
    """Candidate-search keys of a person (idp.policies.matching.blocking_keys).

    Stored as an HMAC under a deployment secret, so the index holds no readable
    demographics; a sign-up compares only against persons sharing a key.
    """

    __tablename__ = "person_blocking_keys"
    __table_args__ = (
        Index("ix_person_blocking_keys_key", "key"),
        Index("ix_person_blocking_keys_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    key: Mapped[str] = mapped_column(String(64))


class MatchingIndex(Base):
    """Which secret the blocking keys were made under (one row, id 1).

    Keys made under another secret never match (issue 8, item 14): a process whose
    secret differs refuses to index or search until ``idp persons reindex``. Only an
    HMAC of the secret is kept, never the secret.
    """

    __tablename__ = "matching_index"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_fingerprint: Mapped[str] = mapped_column(String(64))


class Enrollment(Base):
    """A sign-up that closely matched an existing account without proof: staff decide.

    ``data`` holds what the account would be created from (user ID, argon2 hashes of
    the password and answers, demographics); never a plain secret.
    """

    __tablename__ = "enrollments"
    __table_args__ = (Index("ix_enrollments_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # pending | approved | rejected
    status: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(254))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    candidate_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), nullable=True
    )
    portal_id: Mapped[int | None] = mapped_column(ForeignKey("portals.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)


class Credential(Base):
    """A second factor of an account: an authenticator app, a passkey or one recovery code.

    One table with a ``kind`` column rather than one per factor, so "which factors
    does this account have" is one indexed query and removing an account's factors
    is one statement. Only the columns of the row's kind are set:

    - ``totp``: ``secret_ciphertext`` (AES-GCM, :mod:`idp.store.secret_box`; never the
      plain secret) and ``last_used_step``, the RFC 6238 time step last accepted, so a
      code is refused again even after the ephemeral used-step marker has expired.
    - ``webauthn``: the WebAuthn credential ID (unique: an authenticator's credential
      belongs to one account), its COSE public key, signature counter, transports,
      AAGUID and backup state; ``clone_suspected_at`` is set when the counter went
      backwards (WebAuthn Level 3 §6.1.1) and the passkey is refused from then on.
    - ``recovery_code``: ``code_hash`` (SHA-256 of a 80-bit random code, invariant 5)
      and ``used_at``; a code is used by one conditional UPDATE, so at most once.
    """

    __tablename__ = "credentials"
    __table_args__ = (Index("ix_credentials_account_id_kind", "account_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    # totp | webauthn | recovery_code
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, unique=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # An unsigned 32-bit counter: too big for a signed 32-bit INTEGER.
    sign_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    transports: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    aaguid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    backed_up: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    clone_suspected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebAuthnUserHandle(Base):
    """The WebAuthn user handle of an account: 64 random bytes, never the user ID.

    Authenticators store it with every passkey and return it at discoverable
    sign-in, and WebAuthn §14.6.1 asks that it carry no personal information.
    One per account, so every passkey of the account carries the same handle.
    """

    __tablename__ = "webauthn_user_handles"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    handle: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Grants that still stand for something: at most one per representative, patient and practice.
LIVE_GRANT_STATUSES = ("pending_cosignature", "pending_approval", "active")
_LIVE_GRANT = text("status IN ('pending_cosignature', 'pending_approval', 'active')")


class ProxyGrant(Base):
    """A representative account's access to a patient person at one practice (issue 10).

    The level and the data categories are never stored: ``idp.policies.proxy`` computes
    them from these facts and the birth dates at the moment of each use. ``status`` moves
    only by conditional UPDATEs (``idp.store.sql.proxy_grants``), each with a history row.
    """

    __tablename__ = "proxy_grants"
    __table_args__ = (
        Index(
            "ix_proxy_grants_live",
            "portal_id",
            "representative_account_id",
            "patient_person_id",
            unique=True,
            sqlite_where=_LIVE_GRANT,
            postgresql_where=_LIVE_GRANT,
        ),
        Index("ix_proxy_grants_patient_person_id", "patient_person_id"),
        Index("ix_proxy_grants_representative_account_id", "representative_account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id"))
    representative_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    patient_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    # idp.policies.proxy.Relationship / GrantKind / GrantStatus values.
    relationship: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    # Full access asked for a teen: needs the teen's signature and a staff approval.
    full_access_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    teen_cosigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # "account:<subject>" (the teen online) or "staff:<name>" (signature on the form).
    teen_cosigned_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # A guardianship or power-of-attorney document kept by the practice.
    legal_document: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the practice keeps the signed form (its reference, not the form).
    evidence_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The practice's FHIR RelatedPerson id for the representative (fhirUser in proxy tokens).
    related_person: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Local dates on the practice's calendar; access stops on ``ends_on``.
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ProxyGrantEvent(Base):
    """One change of a grant (its history, shown to both sides); the audit has the rest."""

    __tablename__ = "proxy_grant_events"
    __table_args__ = (Index("ix_proxy_grant_events_grant_id", "grant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("proxy_grants.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # granted | cosigned | approved | revoked | expired
    action: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class ConfidentialFlag(Base):
    """A data category a practice keeps from every representative of one patient.

    45 CFR 164.502(g)(3): a parent is not the personal representative for care the minor
    consented to alone. ``reason`` is the practice's code (standards.md row 34).
    """

    __tablename__ = "confidential_flags"
    __table_args__ = (UniqueConstraint("portal_id", "person_id", "category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    category: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(200))
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffMember(Base):
    """An account that is also staff, with its role (issue 11; ``idp.policies.staff_roles``).

    One role per account: a person who needs another role gets it instead, never beside
    it, so that what an account may do is read from one row. A practice member's portals
    are in :class:`StaffPortal`.
    """

    __tablename__ = "staff_members"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class StaffPortal(Base):
    """A portal a ``practice`` staff member works for (their data scope)."""

    __tablename__ = "staff_portals"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.account_id", ondelete="CASCADE"), primary_key=True
    )
    portal_id: Mapped[int] = mapped_column(ForeignKey("portals.id"), primary_key=True)
