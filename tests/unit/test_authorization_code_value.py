"""Authorization code values (idp/oidc/grants.py): as long and as random as Authlib's,
URL-safe, and made without Authlib's per-character SystemRandom draws."""

from __future__ import annotations

import re

from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant as AuthlibCodeGrant

from idp.oidc.grants import AuthorizationCodeGrant


def test_codes_are_48_url_safe_characters_and_never_repeat() -> None:
    # Ours, not Authlib's per-character generator, is the one the grant calls.
    assert (
        AuthorizationCodeGrant.generate_authorization_code
        is not AuthlibCodeGrant.generate_authorization_code
    )
    codes = {AuthorizationCodeGrant.generate_authorization_code(None) for _ in range(2000)}  # type: ignore[arg-type]
    assert len(codes) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{48}", code) for code in codes)
