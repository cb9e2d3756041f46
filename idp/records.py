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
class PortalRecord:
    id: int
    slug: str
    name: str
    # Every client of the practice requires a second factor (issue 9).
    require_mfa: bool = False


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
