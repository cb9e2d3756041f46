"""Sign-in stops at the second factor; the ID token says how the patient signed in (issue 9)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import update

from idp.policies.assurance import ACR_MFA
from idp.store.sql import models
from idp.store.usernames import username_key

from ..conftest import PASSWORD, Factory
from ..helpers import OIDCActions, csrf_token, query
from ..second_factor import (
    enrol_recovery_codes,
    enrol_totp,
    outbox_templates,
    submit_code,
    totp_now,
)


def _login(client: FlaskClient, location: str = "/login", password: str = PASSWORD):
    page = client.get(location)
    data = {"username": "alice", "password": password, "csrf_token": csrf_token(page.text)}
    if "i" in query(location):
        data["i"] = query(location)["i"]
    return client.post("/login", data=data)


def _code_and_token(oidc: OIDCActions, rp, req, response) -> dict:
    final = oidc.follow_to_redirect(response, login=False)
    assert final.status_code == 302, final.text
    params = query(final.headers["Location"])
    assert "code" in params, params
    exchanged = oidc.exchange(rp, req, params["code"])
    assert exchanged.status_code == 200, exchanged.text
    return oidc.id_token(exchanged.get_json()["id_token"], rp, nonce=req.nonce).claims


def test_password_alone_gives_pwd_and_no_acr(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    claims = oidc.id_token(oidc.tokens(rp, req)["id_token"], rp, nonce=req.nonce).claims
    assert claims["amr"] == ["pwd"]
    assert "acr" not in claims


def test_totp_account_stops_at_the_second_factor_then_gets_mfa(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    secret = enrol_totp(services, account.id)
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    to_login = oidc.authorize(req)
    parked = _login(client, to_login.headers["Location"])
    assert parked.status_code == 303
    assert parked.headers["Location"] == "/login/second-factor"
    assert "idp_session=" not in " ".join(parked.headers.getlist("Set-Cookie"))
    # Nothing is reachable yet: the portal's request still needs a sign-in.
    assert oidc.authorize(oidc.request(rp)).headers["Location"].startswith("/login")

    page = client.get("/login/second-factor")
    assert page.status_code == 200
    assert len(re.findall(r'<input[^>]*name="code"', page.text)) == 1
    assert len(re.findall(r'type="submit"|<button type="submit"', page.text)) == 1
    assert "Use a recovery code instead" not in page.text  # no codes enrolled

    done = submit_code(client, totp_now(services, secret))
    assert done.status_code == 303
    claims = _code_and_token(oidc, rp, req, done)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == ACR_MFA


def test_a_totp_code_is_accepted_once(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    secret = enrol_totp(services, account.id)
    code = totp_now(services, secret)
    _login(client)
    assert submit_code(client, code).status_code == 303

    other = client.application.test_client()
    _login(other)
    replayed = submit_code(other, code)
    assert replayed.status_code == 401
    assert 'data-message-id="second_factor_wrong_code"' in replayed.text
    assert other.get_cookie("idp_session") is None


def test_neighbouring_steps_are_accepted_and_farther_ones_are_not(
    factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    secret = enrol_totp(services, account.id)
    _login(client)
    assert submit_code(client, totp_now(services, secret, offset_steps=3)).status_code == 401
    assert submit_code(client, totp_now(services, secret, offset_steps=-1)).status_code == 303


def test_wrong_codes_count_toward_the_lockout(
    factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    secret = enrol_totp(services, account.id)
    key = username_key("alice")
    _login(client)
    before = services.attempts.total(key)
    wrong = submit_code(client, "000000" if totp_now(services, secret) != "000000" else "111111")
    assert wrong.status_code == 401
    assert services.attempts.total(key) == before + 1
    for _ in range(services.settings.lockout.max_failures):
        last = submit_code(client, "12345")  # malformed counts as well
    assert 'data-message-id="account_locked"' in last.text
    # Locked: even the right code is refused now, and nothing was signed in.
    assert submit_code(client, totp_now(services, secret)).status_code == 401
    assert client.get_cookie("idp_session") is None


def test_a_recovery_code_is_consumed_and_the_patient_told(
    factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    enrol_totp(services, account.id)
    codes = enrol_recovery_codes(services, account.id)
    _login(client)
    page = client.get("/login/second-factor")
    assert "Use a recovery code instead" in page.text
    assert submit_code(client, codes[0], method="recovery_code").status_code == 303
    assert "recovery_code_used" in outbox_templates(services)
    with services.db.transaction() as uow:
        assert uow.credentials.recovery_codes_left(account.id) == len(codes) - 1

    again = client.application.test_client()
    _login(again)
    assert submit_code(again, codes[0], method="recovery_code").status_code == 401


def test_the_second_factor_page_needs_a_parked_sign_in(client: FlaskClient) -> None:
    response = client.get("/login/second-factor")
    assert response.status_code == 400
    posted = client.post("/login/second-factor", data={"code": "123456"})
    assert posted.status_code == 400  # no CSRF token, no flow: nothing happens


def test_the_flow_is_bound_to_the_browser(factory: Factory, client: FlaskClient, services) -> None:
    account = factory.account()
    secret = enrol_totp(services, account.id)
    _login(client)
    flow = client.get_cookie("idp_csrf")
    assert flow is not None
    stranger = client.application.test_client()
    page = stranger.get("/login/second-factor")
    assert page.status_code == 400
    assert submit_code(client, totp_now(services, secret)).status_code == 303


def test_client_requiring_mfa_refuses_a_password_only_account(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    factory.account()
    rp = factory.client(first_party=True, require_mfa=True)
    req = oidc.request(rp)
    refused = _login(client, oidc.authorize(req).headers["Location"])
    assert refused.status_code == 403
    assert 'data-message-id="mfa_enrolment_required"' in refused.text
    assert client.get_cookie("idp_session") is None


def test_client_requiring_mfa_steps_up_a_password_session(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    strict = factory.client(first_party=True, require_mfa=True)
    oidc.sign_in()  # a password-only session, from before the factor was enrolled
    codes = enrol_recovery_codes(services, account.id)  # any second factor will do
    req = oidc.request(strict)
    again = oidc.authorize(req)
    assert again.headers["Location"].startswith("/login?")
    parked = _login(client, again.headers["Location"])
    assert parked.headers["Location"] == "/login/second-factor"
    done = submit_code(client, codes[0], method="recovery_code")
    claims = _code_and_token(oidc, strict, req, done)
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_acr_values_request_a_step_up(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account()
    rp = factory.client(first_party=True)
    oidc.sign_in()  # a password-only session (no factor enrolled yet)
    secret = enrol_totp(services, account.id)
    req = oidc.request(rp, extra={"acr_values": ACR_MFA})
    again = oidc.authorize(req)
    assert again.headers["Location"].startswith("/login?")
    parked = _login(client, again.headers["Location"])
    assert parked.headers["Location"] == "/login/second-factor"
    claims = _code_and_token(oidc, rp, req, submit_code(client, totp_now(services, secret)))
    assert claims["acr"] == ACR_MFA and "mfa" in claims["amr"]


def test_a_silent_request_for_mfa_gets_login_required(oidc: OIDCActions, factory: Factory) -> None:
    factory.account()
    rp = factory.client(first_party=True, require_mfa=True)
    oidc.sign_in()
    response = oidc.authorize(oidc.request(rp, extra={"prompt": "none"}))
    assert query(response.headers["Location"])["error"] == "login_required"


def test_discovery_lists_acr_values(oidc: OIDCActions) -> None:
    assert oidc.discovery()["acr_values_supported"] == [ACR_MFA]


def test_a_practice_requiring_mfa_covers_its_clients(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    factory.account()
    with services.db.transaction() as uow:
        portal = uow.portals.add(slug="strict", name="Strict Practice", now=services.clock())
        uow.session.execute(
            update(models.Portal).where(models.Portal.id == portal.id).values(require_mfa=True)
        )
    rp = factory.client(first_party=True, portal_id=portal.id)
    assert rp.mfa_required and not rp.require_mfa
    refused = _login(client, oidc.authorize(oidc.request(rp)).headers["Location"])
    assert refused.status_code == 403
    assert 'data-message-id="mfa_enrolment_required"' in refused.text


def test_a_passkey_is_a_second_factor(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    import html
    from urllib.parse import urlsplit

    from idp.flows.methods.base import AccountFacts
    from idp.flows.methods.webauthn import WebAuthnMethod

    from ..mfa.soft_authenticator import SoftAuthenticator

    account = factory.account()
    issuer = services.settings.issuer
    method = WebAuthnMethod(
        issuer=issuer, service_name="Patient Sign-in", ephemeral=services.ephemeral
    )
    phone = SoftAuthenticator(origin=issuer, rp_id=urlsplit(issuer).hostname or "")
    with services.db.transaction() as uow:
        options = method.registration_options(
            AccountFacts(account.id, frozenset()),
            user_name="alice",
            display_name="Alice",
            flow_id="reg",
            tx=uow,
            now=services.clock(),
        )
    with services.db.transaction() as uow:
        method.register(
            AccountFacts(account.id, frozenset()),
            phone.create(options),
            label="Phone",
            flow_id="reg",
            tx=uow,
            now=services.clock(),
        )
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    parked = _login(client, oidc.authorize(req).headers["Location"])
    assert parked.headers["Location"] == "/login/second-factor"
    page = client.get("/login/second-factor")
    assert 'name="code"' not in page.text  # nothing to type: a passkey only
    found = re.search(r'data-webauthn-options="([^"]+)"', page.text)
    assert found, page.text
    answer = phone.get(html.unescape(found.group(1)))
    done = client.post(
        "/login/second-factor",
        data={"method": "webauthn", "credential": answer, "csrf_token": csrf_token(page.text)},
    )
    assert done.status_code == 303, done.text
    claims = _code_and_token(oidc, rp, req, done)
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]
