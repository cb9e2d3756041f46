"""A client as a staff operation or the CLI registers it (``ClientRepository.add``):
no SQL here, so flows can build one (the SQL repository re-exports it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
