"""A form sent twice, or a page come back to with Back, shows its success, not an error
(issue 14, item 7: what a new user hit)."""

from __future__ import annotations

from flask.testing import FlaskClient

from ..conftest import PASSWORD, Factory
from ..helpers import OIDCActions, csrf_token, message_ids, query


def _login_form(oidc: OIDCActions, rp) -> tuple[str, dict[str, str]]:
    location = oidc.authorize(oidc.request(rp)).headers["Location"]
    page = oidc.client.get(location)
    return location, {
        "username": "alice",
        "password": PASSWORD,
        "csrf_token": csrf_token(page.text),
        "i": query(location)["i"],
    }


def test_a_sign_in_sent_twice_continues_the_sign_in(
    oidc: OIDCActions, client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    rp = factory.client(first_party=True)
    _, form = _login_form(oidc, rp)
    first = client.post("/login", data=form)
    assert first.status_code == 303
    second = client.post("/login", data=form)  # the double click
    assert second.status_code == 303, second.text
    assert second.headers["Location"] == first.headers["Location"]
    # And it really continues: the portal gets its code.
    done = client.get(second.headers["Location"])
    assert "code" in query(done.headers["Location"])


def test_a_stale_sign_in_form_without_a_signed_in_browser_is_still_refused(
    oidc: OIDCActions, client: FlaskClient, factory: Factory, app
) -> None:
    factory.account()
    rp = factory.client(first_party=True)
    _, form = _login_form(oidc, rp)
    other = app.test_client()  # not signed in, no CSRF secret of its own
    refused = other.post("/login", data=form)
    assert refused.status_code == 400
    assert message_ids(refused.text) == ["csrf_failed"]


def test_back_after_the_portal_got_its_code_lands_on_the_signed_in_page(
    oidc: OIDCActions, client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    rp = factory.client()  # needs consent
    req = oidc.request(rp)
    response = oidc.follow_to_redirect(oidc.authorize(req))
    assert "code" in query(response.headers["Location"])
    # Back: to the consent page, then to the login page, of the finished request.
    for path in ("/consent", "/login"):
        back = client.get(path, query_string={"i": "x" * 32})
        assert back.status_code == 303 and back.headers["Location"] == "/"
    assert message_ids(client.get("/").text) == ["signed_in"]


def test_consent_sent_twice_does_not_show_an_error(
    oidc: OIDCActions, client: FlaskClient, factory: Factory
) -> None:
    factory.account()
    rp = factory.client()
    req = oidc.request(rp)
    response = oidc.authorize(req)
    response = oidc.follow_to_redirect(response, consent=False)
    consent_url = response.headers["Location"]
    assert consent_url.startswith("/consent")
    page = client.get(consent_url)
    form = {"decision": "allow", "csrf_token": csrf_token(page.text), "i": query(consent_url)["i"]}
    first = client.post("/consent", data=form)
    assert first.status_code == 303
    code = client.get(first.headers["Location"])
    assert "code" in query(code.headers["Location"])
    second = client.post("/consent", data=form)
    assert second.status_code == 303 and second.headers["Location"] == "/"
