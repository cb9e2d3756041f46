"""SMART App Launch 2.2 discovery: ``/.well-known/smart-configuration`` (spec §"Conformance").

Every capability listed is one a test exercises against the live endpoints
(tests/ops/test_smart_configuration.py); what is not supported is left out
rather than promised:

- ``launch-standalone``: an app starts at our authorization endpoint itself; there is
  no EHR launch (``launch-ehr``, ``context-ehr-*``), as there is no EHR here.
- ``client-public`` (PKCE S256, no secret) and ``client-confidential-symmetric``
  (a client secret). No ``client-confidential-asymmetric``: we do not take
  ``private_key_jwt``, which is also why ``client_credentials`` (SMART Backend
  Services, which requires it) is not among ``grant_types_supported``.
- ``context-standalone-patient``: ``launch/patient`` returns ``patient`` beside the
  token, when the account is linked to the client's practice.
- ``permission-patient`` and ``permission-v2``: ``patient/<Resource>.<cruds>`` scopes
  registered for a client are granted and echoed in the token response.
- ``permission-offline``: ``offline_access`` gives a rotating refresh token.
- ``sso-openid-connect``: ``openid`` gives an ID token; ``issuer`` and ``jwks_uri``
  are the OpenID Connect ones.
- ``authorize-post``: the authorization endpoint takes form POSTs as well as GETs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .claims import LAUNCH_PATIENT, STANDARD_SCOPES

CAPABILITIES = (
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "context-standalone-patient",
    "permission-patient",
    "permission-v2",
    "permission-offline",
    "sso-openid-connect",
)

# SMART v2 patient-level resource scopes: patient/<Type or *>.<c?r?u?d?s?>, optionally
# with a FHIR search restriction (SMART App Launch 2.2 §"Scopes for requesting FHIR
# resources"). The permissions must be in cruds order and not empty.
_PATIENT_SCOPE = re.compile(
    r"patient/(?:\*|[A-Z][A-Za-z]{0,63})\.(?=[cruds])c?r?u?d?s?(?:\?[!-~]{1,256})?"
)


def is_patient_scope(scope: str) -> bool:
    """True for a SMART v2 patient-level scope such as ``patient/Observation.rs``."""
    return _PATIENT_SCOPE.fullmatch(scope) is not None


def smart_configuration(issuer: str, endpoints: Mapping[str, str]) -> dict[str, Any]:
    """``endpoints`` maps authorization, token, jwks, revocation and introspection to URLs."""
    return {
        "issuer": issuer,
        "jwks_uri": endpoints["jwks"],
        "authorization_endpoint": endpoints["authorization"],
        "token_endpoint": endpoints["token"],
        "grant_types_supported": ["authorization_code"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "scopes_supported": list(STANDARD_SCOPES) + [LAUNCH_PATIENT],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": list(CAPABILITIES),
        "revocation_endpoint": endpoints["revocation"],
        "introspection_endpoint": endpoints["introspection"],
    }
