"""RP-Initiated Logout 1.0 on Authlib's end-session endpoint."""

from __future__ import annotations

from typing import Any

from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSession
from joserfc.jwk import KeySet


class EndSessionEndpoint(_EndSession):  # type: ignore[misc]
    """Validates id_token_hint against our published keys and the exact
    post_logout_redirect_uri (RP-Initiated Logout §2–§3); ending the SSO session
    is done by the web layer, which owns the cookie."""

    def get_server_jwks(self) -> KeySet:
        keys: KeySet = self.server.ctx.keys.verification_keys()  # authlib's server is untyped
        return keys

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def end_session(self, end_session_request: Any) -> None:
        """The view ends the session before calling create_endpoint_response."""
