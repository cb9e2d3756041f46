"""Frozen records that flows and protocol code receive from the stores.

They carry what a caller may read and nothing it could accidentally write back
(DESIGN.md: "Flows get dataclasses, not ORM rows").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where a request came from, for audit events and throttles."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: int
    first_name: str
    last_name: str
    dob: date | None
    zip: str | None
    gender: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    subject: str
    username: str
    password_hash: str
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool
    status: str
    must_change_password: bool
    person: PersonRecord | None
    created_at: datetime
    password_changed_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """An account that is staff: its role (``idp.policies.staff_roles.Role`` value) and,
    for the practice role, the slugs of its portals."""

    account_id: int
    username: str
    subject: str
    role: str
    portals: tuple[str, ...]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class PortalRecord:
    id: int
    slug: str
    name: str
    # Every client of the practice requires a second factor (issue 9).
    require_mfa: bool = False
    # Proxy access on the practice's terms (issue 10 item 3): see ``practice_rules``.
    teen_age: int = 13
    majority_age: int = 18
    adult_grant_months: int = 18
    time_zone: str = "UTC"  # IANA name


@dataclass(frozen=True, slots=True)
class ClientRecord:
    id: int
    client_id: str
    client_secret_hash: str | None
    name: str
    portal: PortalRecord | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scope: str
    grant_types: tuple[str, ...]
    token_endpoint_auth_method: str
    subject_type: str
    id_token_signed_response_alg: str
    first_party: bool
    pkce_required: bool
    # The portal asks for a second factor: no code for a password-only sign-in (issue 9).
    require_mfa: bool = False
    # Back-Channel Logout 1.0: the portal's logout endpoint, or None (not notified).
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def mfa_required(self) -> bool:
        """The client, or the practice that owns it, asks for a second factor."""
        return self.require_mfa or (self.portal is not None and self.portal.require_mfa)

    @property
    def allowed_scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """A portal or app the patient allowed, with what it may read ("My portals")."""

    client_id: str
    client_name: str
    portal_name: str | None
    scopes: tuple[str, ...]
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: int
    family_id: str
    client_id: str
    account_id: int
    scope: str
    claims: dict[str, Any] | None
    auth_time: int
    issued_at: datetime
    expires_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    # The person a representative's token family acts for (issue 10), else None.
    acting_for: int | None = None
    # The SSO session this token ends with (no ``offline_access``), else None.
    sid: str | None = None
    # Whether any token of the family was revoked (reuse, RFC 7009, logout): read in
    # the same query as the token, one round trip less per refresh (issue 12).
    family_revoked: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What a caller records; the log adds id and time."""

    type: str
    outcome: str
    actor: str
    subject: str | None = None
    client_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    session_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    type: str
    outcome: str
    actor: str
    subject: str | None
    client_id: str | None
    ip: str | None
    user_agent: str | None
    session_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordChoice:
    """One entry of the "whose record" picker at one practice (issue 10 item 5).

    ``person_id`` None is the signed-in account's own record; otherwise the patient the
    representative may act for, with the level the proxy policy gives it right now.
    """

    patient_id: str  # the practice's MRN: the value of the picker's `patient` button
    name: str
    person_id: int | None = None
    relationship: str | None = None
    level: str | None = None
    # How audit events name the patient (their account's subject, else person:<id>).
    audit_subject: str | None = None

    @property
    def is_self(self) -> bool:
        return self.person_id is None


@dataclass(frozen=True, slots=True)
class ProxyAct:
    """A representative acting for a patient at one practice, as judged at one moment.

    Built for every token (code exchange, refresh, introspection, UserInfo) from the live
    grant and :func:`idp.policies.proxy.check_proxy_access`; never stored, so it cannot
    go stale (a birthday, a revocation or a new confidential flag shows at the next use).
    """

    person_id: int
    patient_id: str  # the chosen patient's MRN at the client's practice
    relationship: str
    level: str
    # The proxy decision's data categories (values of idp.policies.proxy.Category).
    categories: frozenset[str]
    grant_id: int
    # The patient's own account subject, when the patient has an account.
    patient_account_subject: str | None = None
    # The practice's FHIR RelatedPerson id for the representative (fhirUser).
    related_person: str | None = None
    # The decision itself, for cutting scopes (idp.policies.proxy_scopes.cut_scopes).
    decision: Any = None

    @property
    def audit_subject(self) -> str:
        """The patient as audit events name them (as the grant flows do)."""
        return self.patient_account_subject or f"person:{self.person_id}"
