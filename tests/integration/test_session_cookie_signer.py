"""The Flask session's signer is built once per secret key (idp/web/security.py
LazyCookieSessions), and a key change still takes effect at once."""

from __future__ import annotations

from flask import Flask


def test_the_signer_is_kept_until_the_key_changes(app: Flask) -> None:
    sessions = app.session_interface
    first = sessions.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert sessions.get_signing_serializer(app) is first  # type: ignore[attr-defined]
    signed = first.dumps({"k": "v"})

    old_key = app.secret_key
    app.secret_key = "another secret key that is long enough for the test"
    rotated = sessions.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert rotated is not first
    assert rotated.loads(rotated.dumps({"k": "v"})) == {"k": "v"}
    # The old key as a fallback: cookies it signed still open, with a new signer.
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    with_fallback = sessions.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert with_fallback is not rotated
    assert with_fallback.loads(signed) == {"k": "v"}
