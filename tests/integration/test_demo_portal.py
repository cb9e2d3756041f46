"""The demo portal and the sign-out pages say only what is true (issue 8, item 16)."""

from __future__ import annotations

from flask.testing import FlaskClient

from idp.demo import create_demo_portal

from ..helpers import message_ids


def _portal() -> FlaskClient:
    app = create_demo_portal(
        issuer="http://127.0.0.1:5000",
        client_id="demo-portal-5001",
        portal_url="http://127.0.0.1:5001",
    )
    return app.test_client()


def test_dont_allow_gets_a_clear_page_not_a_500() -> None:
    reply = _portal().get("/callback?error=access_denied&error_description=denied&state=s1")
    assert reply.status_code == 200
    assert "id=denied" in reply.text
    assert "not signed in here" in reply.text
    assert "Welcome" not in reply.text


def test_other_errors_and_a_forged_state_are_shown_not_raised() -> None:
    portal = _portal()
    reply = portal.get("/callback?error=server_error&state=s1")
    assert reply.status_code == 400
    assert "<code>server_error</code>" in reply.text
    forged = portal.get("/callback?code=abc&state=never-issued")
    assert forged.status_code == 400
    assert "id=signin-failed" in forged.text
    hostile = portal.get("/callback?error=%3Cscript%3Ealert(1)%3C/script%3E&state=s1")
    assert hostile.status_code == 400
    assert "<script>" not in hostile.text


def test_logout_pages_do_not_claim_every_portal_is_signed_out(client: FlaskClient) -> None:
    """Without back-channel logout, portals keep their own sessions: say so."""
    done = client.get("/logout")
    assert message_ids(done.text) == ["signed_out"]
    assert "every portal" not in done.text
    assert "until you sign out of that portal" in done.text
