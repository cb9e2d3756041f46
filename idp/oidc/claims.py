"""Standard claims (OIDC Core §5.1, §5.4) and the ``claims`` request parameter (§5.5).

Which claims a client gets is decided here, from the granted scopes plus any
individually requested claims; the values come from the account and person.
One claim of our own, ``patient_id``, carries the requesting client's practice's
patient identifier (issue 5; docs/protocol.md, "Patient identifier").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from idp.records import AccountRecord, ClientRecord
from idp.store.links import PortalLinkRecord

# OIDC Core §5.4: what each scope value asks for.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": (
        "name",
        "family_name",
        "given_name",
        "middle_name",
        "nickname",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
    ),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}

STANDARD_SCOPES = ("openid", "profile", "email", "address", "phone", "offline_access")
# SMART App Launch: ask for the patient in context (the token response's `patient`).
LAUNCH_PATIENT = "launch/patient"
SMART_SCOPES = (LAUNCH_PATIENT,)
# Machine-to-machine scopes for our JSON APIs (client_credentials only):
# a practice's own system creating invitations for its patients, and staff tools with a
# staff role's scope (idp.policies.staff_roles.SCOPE_ROLES; issue 11).
API_SCOPES = (
    "portal:invitations",
    "portal:patients",
    "idp:admin",
    "idp:support",
    "idp:practice",
    "idp:auditor",
)
# Everything a client may be registered for.
REGISTRABLE_SCOPES = STANDARD_SCOPES + SMART_SCOPES + API_SCOPES
# The practice's own patient identifier (its medical record number) for the signed-in
# account, in the ID token and UserInfo of that practice's clients only. Not SMART's
# `patient` (a token-response parameter, sent as well when launch/patient is granted)
# and not `sub` (ours, stable, possibly pairwise); see docs/protocol.md.
PATIENT_CLAIM = "patient_id"
# A proxy session's relationship and access level (issue 10; docs/protocol.md).
PROXY_CLAIM = "proxy"
SUPPORTED_CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "at_hash",
    PATIENT_CLAIM,
    PROXY_CLAIM,
) + tuple(c for claims in SCOPE_CLAIMS.values() for c in claims)

# A claims parameter larger than this is refused (it is echoed into stored grants).
MAX_CLAIMS_PARAMETER = 4096

_GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}


class ClaimsRequestError(ValueError):
    """The ``claims`` parameter is not the JSON object OIDC Core §5.5 describes."""


def parse_claims_request(raw: str | None) -> dict[str, list[str]]:
    """Return {"userinfo": [names], "id_token": [names]} for the claims we know.

    Unknown claims are ignored (§5.5: "the OP MAY ignore"); a malformed value is
    refused with ``invalid_request`` by the caller.
    """
    if not raw:
        return {}
    if len(raw) > MAX_CLAIMS_PARAMETER:
        raise ClaimsRequestError("claims parameter too large")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: a deeply nested value ("[[[[...") within the size limit.
        raise ClaimsRequestError("claims parameter is not valid JSON") from None
    if not isinstance(data, dict):
        raise ClaimsRequestError("claims parameter must be a JSON object")
    result: dict[str, list[str]] = {}
    for member in ("userinfo", "id_token"):
        section = data.get(member)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ClaimsRequestError(f"claims.{member} must be a JSON object")
        names = [n for n in section if isinstance(n, str) and n in SUPPORTED_CLAIMS]
        if names:
            result[member] = sorted(set(names))
    return result


def claims_for_scope(scope: str) -> set[str]:
    names: set[str] = set()
    for value in scope.split():
        names.update(SCOPE_CLAIMS.get(value, ()))
    return names


def account_claims(account: AccountRecord) -> dict[str, Any]:
    """Every standard claim we can fill for this account (absent ones are left out).

    Never ``preferred_username``: the user ID is half the credential and the lockout
    key, and portals have no use for it. Never ``updated_at``: it was the time the
    password last changed, and nothing records when only the profile changed.
    """
    claims: dict[str, Any] = {}
    if account.email:
        claims["email"] = account.email
        claims["email_verified"] = account.email_verified
    if account.phone:
        claims["phone_number"] = account.phone
        claims["phone_number_verified"] = account.phone_verified
    person = account.person
    if person is not None:
        claims["given_name"] = person.first_name
        claims["family_name"] = person.last_name
        claims["name"] = f"{person.first_name} {person.last_name}".strip()
        if person.dob:
            claims["birthdate"] = person.dob.isoformat()
        if person.gender:
            claims["gender"] = _GENDERS.get(person.gender.strip().lower(), person.gender)
        if person.zip:
            claims["address"] = {"postal_code": person.zip, "country": "US"}
    return claims


class ActiveLinks(Protocol):
    """Where active practice links are read (``PortalLinkRepository``)."""

    def active_for(self, account_id: int, portal_id: int) -> PortalLinkRecord | None: ...


def patient_identifier(links: ActiveLinks, account_id: int, client: ClientRecord) -> str | None:
    """The MRN a client may see: its own practice's, from an active link, else None.

    Only the client's practice is looked up, so a token can never carry another
    practice's identifier (DESIGN.md: "Portals ... do not see each other's data").
    A client without a practice (first-party, API tools) gets none.
    """
    if client.portal is None:
        return None
    link = links.active_for(account_id, client.portal.id)
    return link.patient_id if link is not None else None


def select_claims(
    available: Mapping[str, Any], *, scope: str, requested: list[str] | None = None
) -> dict[str, Any]:
    wanted = claims_for_scope(scope) | set(requested or ())
    return {name: value for name, value in available.items() if name in wanted}
