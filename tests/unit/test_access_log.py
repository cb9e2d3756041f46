"""Access-log redaction (idp/access_log.py): secrets in URLs never reach the log."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest

from idp.access_log import (
    REDACTED,
    RedactingGunicornLogger,
    redact_request_line,
    redact_target,
    redact_url,
)

TOKEN = "Zx8_kq2LrT5vWm9pQa3sNb7cYd1eFg4hJ6iKl0oPuRs"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (f"/signup/verify?token={TOKEN}", f"/signup/verify?token={REDACTED}"),
        (f"/activate?code={TOKEN}", f"/activate?code={REDACTED}"),
        (f"/reset/{TOKEN}", f"/reset/{REDACTED}"),
        (f"/signup/verify/{TOKEN}/done", f"/signup/verify/{REDACTED}/done"),
        (
            f"/logout?id_token_hint=eyJ.{TOKEN}.sig&post_logout_redirect_uri=https%3A%2F%2Fp%2F"
            "&state=s1",
            f"/logout?id_token_hint={REDACTED}&post_logout_redirect_uri=https%3A%2F%2Fp%2F"
            f"&state={REDACTED}",
        ),
        (
            "/authorize?client_id=abc&scope=openid+profile&login_hint=grace&nonce=n",
            f"/authorize?client_id=abc&scope=openid+profile&login_hint={REDACTED}&nonce={REDACTED}",
        ),
        (f"/userinfo?access_token={TOKEN}", f"/userinfo?access_token={REDACTED}"),
        (f"/x?{TOKEN}", f"/x?{REDACTED}={REDACTED}"),
        ("/.well-known/openid-configuration", "/.well-known/openid-configuration"),
        ("/api/admin/portals/northside-pediatrics/invitations", None),
        ("/api/admin/enrollments/12345/approve", None),
    ],
)
def test_targets_keep_only_harmless_values(target: str, expected: str | None) -> None:
    assert redact_target(target) == (expected or target)


def test_urls_lose_user_info_secrets_and_fragment() -> None:
    url = f"https://user:pw@portal.example:8443/cb?code={TOKEN}&state=x&iss=https%3A%2F%2Fid#f"
    assert redact_url(url) == (
        f"https://portal.example:8443/cb?code={REDACTED}&state={REDACTED}&iss=https%3A%2F%2Fid"
    )
    assert redact_url("-") == "-"
    assert redact_url("http://[::1") == REDACTED


def test_request_lines_keep_method_and_version() -> None:
    line = f"GET /reset/confirm?token={TOKEN} HTTP/1.1"
    assert redact_request_line(line) == f"GET /reset/confirm?token={REDACTED} HTTP/1.1"


def test_gunicorn_atoms_hold_no_secret() -> None:
    """What gunicorn formats access-log lines from (the live test checks a real log)."""
    logger = object.__new__(RedactingGunicornLogger)  # atoms() needs no configuration
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/activate?code={TOKEN}",
        "PATH_INFO": f"/reset/{TOKEN}",
        "QUERY_STRING": f"code={TOKEN}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://id.example/signup/verify?token={TOKEN}",
        "HTTP_COOKIE": f"idp_session={TOKEN}",
    }
    response = SimpleNamespace(
        status="302 Found",
        sent=0,
        headers=[("Location", f"https://portal.example/cb?code={TOKEN}")],
    )
    request = SimpleNamespace(
        headers=[("COOKIE", f"idp_session={TOKEN}"), ("AUTHORIZATION", f"Bearer {TOKEN}")]
    )
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    leaking = {name: value for name, value in atoms.items() if TOKEN in str(value)}
    assert not leaking
    assert atoms["r"] == f"GET /activate?code={REDACTED} HTTP/1.1"
    assert atoms["{location}o"] == f"https://portal.example/cb?code={REDACTED}"


def test_werkzeug_development_server_logs_redacted_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The demo portal's server: its callback URL carries the authorization code."""
    import threading
    import urllib.request

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    from idp.access_log import RedactingRequestHandler

    def app(environ: dict, start_response: object) -> object:
        return Response("ok")(environ, start_response)

    server = make_server("127.0.0.1", 0, app, request_handler=RedactingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            url = f"http://127.0.0.1:{server.port}/callback?code={TOKEN}&state=s&iss=x"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
    finally:
        server.shutdown()
        thread.join(timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any(f"/callback?code={REDACTED}&state={REDACTED}&iss=x" in line for line in lines)
    assert not any(TOKEN in line for line in lines)
