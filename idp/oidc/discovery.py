"""The discovery document (OpenID Connect Discovery 1.0 §3; RFC 8414).

Authlib validates but does not build it; every endpoint we serve is listed here,
and every feature listed is one the tests exercise.
"""

from __future__ import annotations

from typing import Any

from idp.i18n import SUPPORTED_LOCALES
from idp.policies.assurance import ACR_VALUES_SUPPORTED

from .claims import SMART_SCOPES, STANDARD_SCOPES, SUPPORTED_CLAIMS
from .keys import SUPPORTED_ALGS


def discovery_document(issuer: str, endpoints: dict[str, str]) -> dict[str, Any]:
    """``endpoints`` maps names (authorization, token, ...) to absolute URLs."""
    return {
        "issuer": issuer,
        "authorization_endpoint": endpoints["authorization"],
        "token_endpoint": endpoints["token"],
        "userinfo_endpoint": endpoints["userinfo"],
        "jwks_uri": endpoints["jwks"],
        "revocation_endpoint": endpoints["revocation"],
        "introspection_endpoint": endpoints["introspection"],
        "end_session_endpoint": endpoints["end_session"],
        "scopes_supported": list(STANDARD_SCOPES + SMART_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(SUPPORTED_CLAIMS),
        # A sign-in with a second factor (issue 9); request it with acr_values.
        "acr_values_supported": list(ACR_VALUES_SUPPORTED),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page", "popup", "touch", "wap"],
        "claim_types_supported": ["normal"],
        "ui_locales_supported": list(SUPPORTED_LOCALES),
        "claims_locales_supported": ["en-US"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        # Back-Channel Logout 1.0 §2.1: logout tokens carry sid, and ID tokens do too.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
