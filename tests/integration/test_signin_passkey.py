"""Sign-in with a passkey alone (discoverable credential), through the one authentication flow.

Responses come from a software authenticator with a real P-256 key
(tests/mfa/soft_authenticator.py) and are verified by py_webauthn as a browser's
would be; the flow, the stores and the lockout are the real ones, on whichever
backend the run uses (SQLite + in-process, or PostgreSQL + Redis).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.policies.assurance import ACR_MFA
from idp.services import Services
from idp.store.sql import models
from idp.store.usernames import username_key

from ..conftest import PASSWORD, Factory
from ..helpers import OIDCActions, csrf_token, query
from ..mfa.soft_authenticator import SoftAuthenticator
from ..second_factor import enrol_passkey, enrol_recovery_codes, enrol_totp, totp_now

NEUTRAL = 'data-message-id="passkey_not_accepted"'


def start(client: FlaskClient, location: str = "/login") -> tuple[str, dict[str, Any]]:
    """Open the login page and ask for a passkey ceremony, as static/passkey_login.js does."""
    page = client.get(location)
    assert page.status_code == 200, page.text
    token = csrf_token(page.text)
    data = {"i": query(location)["i"]} if "i" in query(location) else {}
    answer = client.post("/login/passkey/options", data=data, headers={"X-CSRFToken": token})
    assert answer.status_code == 200, answer.text
    assert answer.mimetype == "application/json"
    return token, answer.get_json()


def post_answer(
    client: FlaskClient, token: str, flow: str, credential: str, **extra: str
) -> TestResponse:
    return client.post(
        "/login/passkey",
        data={"csrf_token": token, "flow": flow, "credential": credential, **extra},
    )


def passkey_sign_in(
    client: FlaskClient, device: SoftAuthenticator, location: str = "/login", **kw: Any
) -> TestResponse:
    token, started = start(client, location)
    extra = {"i": query(location)["i"]} if "i" in query(location) else {}
    return post_answer(
        client, token, started["flow"], device.get(json.dumps(started["options"]), **kw), **extra
    )


def code_claims(oidc: OIDCActions, rp: Any, req: Any, response: TestResponse) -> dict[str, Any]:
    final = oidc.follow_to_redirect(response, login=False)
    assert final.status_code == 302, final.text
    params = query(final.headers["Location"])
    assert "code" in params, params
    exchanged = oidc.exchange(rp, req, params["code"])
    assert exchanged.status_code == 200, exchanged.text
    claims: dict[str, Any] = oidc.id_token(
        exchanged.get_json()["id_token"], rp, nonce=req.nonce
    ).claims
    return claims


def sign_count(services: Services, device: SoftAuthenticator) -> int:
    with services.db.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(device.credential_id)
    assert found is not None
    return found.sign_count


def login_events(services: Services) -> list[tuple[str, str, dict[str, Any]]]:
    with services.db.session() as session:
        rows = session.execute(
            select(models.AuditEvent.type, models.AuditEvent.outcome, models.AuditEvent.details)
            .where(models.AuditEvent.type.in_(("login", "login_refused")))
            .order_by(models.AuditEvent.id)
        )
        return [(t, o, dict(d or {})) for t, o, d in rows]


def failures(services: Services, username: str = "alice") -> int:
    return services.attempts.total(username_key(username))


# --- the page ------------------------------------------------------------------------------


def test_login_page_offers_passkeys_and_keeps_one_form(client: FlaskClient) -> None:
    page = client.get("/login").text
    assert re.search(r'<input id="username"[^>]*autocomplete="username webauthn"', page)
    assert 'id="passkey-signin" hidden' in page  # shown by the script only
    assert "Sign in with a passkey" in page
    assert "passkey_login.js" in page
    # Without JavaScript: one form (user ID and password), one submit button.
    assert len(re.findall(r"<form ", page)) == 1
    assert len(re.findall(r'type="submit"', page)) == 1


def test_each_ceremony_has_its_own_flow_and_challenge(client: FlaskClient) -> None:
    _, first = start(client)
    _, second = start(client)
    assert first["flow"] != second["flow"]
    assert first["options"]["challenge"] != second["options"]["challenge"]
    assert first["options"].get("allowCredentials", []) == []
    assert first["options"]["userVerification"] == "preferred"


def test_options_need_the_csrf_token_and_a_live_request(client: FlaskClient) -> None:
    client.get("/login")
    assert client.post("/login/passkey/options").status_code == 400
    token = csrf_token(client.get("/login").text)
    expired = client.post(
        "/login/passkey/options", data={"i": "no-such-request"}, headers={"X-CSRFToken": token}
    )
    assert expired.status_code == 400
    assert expired.get_json() == {"error": "interaction_expired"}


def test_ceremonies_per_address_are_bounded(client: FlaskClient) -> None:
    from idp.web.auth import PASSKEY_CEREMONIES

    token = csrf_token(client.get("/login").text)
    for _ in range(PASSKEY_CEREMONIES):
        ok = client.post("/login/passkey/options", headers={"X-CSRFToken": token})
        assert ok.status_code == 200
    refused = client.post("/login/passkey/options", headers={"X-CSRFToken": token})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert refused.get_json() == {"error": "too_many_attempts"}


# --- signing in ----------------------------------------------------------------------------


def test_verified_passkey_signs_in_at_a_portal_with_mfa(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    location = oidc.authorize(req).headers["Location"]
    done = passkey_sign_in(client, device, location)
    assert done.status_code == 303, done.text
    assert client.get_cookie("idp_session") is not None
    claims = code_claims(oidc, rp, req, done)
    assert claims["sub"] == account.subject
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["acr"] == ACR_MFA
    assert sign_count(services, device) == 1
    assert login_events(services)[-1] == (
        "login",
        "success",
        {"reason": "signed_in", "method": "passkey", "user_verified": True},
    )


def test_synced_passkey_reports_swk(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    device.backed_up = True  # the authenticator now reports the key backed up (synced)
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    done = passkey_sign_in(client, device, oidc.authorize(req).headers["Location"])
    assert code_claims(oidc, rp, req, done)["amr"] == ["swk", "user", "mfa"]


def test_client_requiring_mfa_accepts_a_verified_passkey(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    strict = factory.client(first_party=True, require_mfa=True)
    req = oidc.request(strict)
    done = passkey_sign_in(client, device, oidc.authorize(req).headers["Location"])
    claims = code_claims(oidc, strict, req, done)
    assert claims["acr"] == ACR_MFA and "mfa" in claims["amr"]


def test_passkey_without_user_verification_needs_the_password(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id, user_verified=False)
    secret = enrol_totp(services, account.id)
    strict = factory.client(first_party=True, require_mfa=True)
    req = oidc.request(strict)
    parked = passkey_sign_in(client, device, oidc.authorize(req).headers["Location"])
    assert parked.status_code == 303
    assert parked.headers["Location"] == "/login/second-factor"
    assert client.get_cookie("idp_session") is None
    page = client.get("/login/second-factor")
    assert page.status_code == 200
    assert 'name="password"' in page.text and 'name="code"' not in page.text
    token = csrf_token(page.text)

    # A code is no substitute: the password is the factor a passkey lacks.
    code = client.post(
        "/login/second-factor",
        data={"method": "totp", "code": totp_now(services, secret), "csrf_token": token},
    )
    assert code.status_code == 400 and client.get_cookie("idp_session") is None
    wrong = client.post(
        "/login/second-factor",
        data={"method": "password", "password": "not the password", "csrf_token": token},
    )
    assert wrong.status_code == 401
    assert 'data-message-id="invalid_password"' in wrong.text
    empty = client.post(
        "/login/second-factor", data={"method": "password", "password": "", "csrf_token": token}
    )
    assert empty.status_code == 400  # refused before any check: nothing counted
    # Counted on the user ID, as at the login page from a browser without a device
    # cookie: the passkey alone earns no fresh counter to guess the password on.
    assert failures(services) == 1
    assert login_events(services)[-1] == (
        "login",
        "failure",
        {"reason": "invalid_credentials", "method": "passkey"},
    )
    done = client.post(
        "/login/second-factor",
        data={"method": "password", "password": PASSWORD, "csrf_token": token},
    )
    assert done.status_code == 303, done.text
    claims = code_claims(oidc, strict, req, done)
    assert claims["amr"] == ["pwd", "hwk", "user", "mfa"]
    assert claims["acr"] == ACR_MFA
    # Single use: the parked step is gone.
    again = client.post(
        "/login/second-factor",
        data={"method": "password", "password": PASSWORD, "csrf_token": token},
    )
    assert again.status_code == 400
    reasons = [d.get("reason") for t, o, d in login_events(services) if o == "success"]
    assert reasons[-2:] == ["password_required", "signed_in"]


def test_wrong_passwords_after_a_passkey_lock_the_account(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id, user_verified=False)
    assert passkey_sign_in(client, device).status_code == 303
    token = csrf_token(client.get("/login/second-factor").text)
    last = None
    for _ in range(services.settings.lockout.max_failures):
        last = client.post(
            "/login/second-factor",
            data={"method": "password", "password": "wrong", "csrf_token": token},
        )
    assert last is not None and 'data-message-id="account_locked"' in last.text
    right = client.post(
        "/login/second-factor",
        data={"method": "password", "password": PASSWORD, "csrf_token": token},
    )
    assert right.status_code == 401 and client.get_cookie("idp_session") is None


# --- refusals: each changes nothing but the counter of the credential's account --------------


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "{",
        "null",
        "[]",
        '{"id":"AA","rawId":"AA","type":"public-key","response":{}}',
        "x" * 20_000,
    ],
)
def test_garbage_is_refused_neutrally_and_changes_nothing(
    factory: Factory, client: FlaskClient, services: Services, credential: str
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    token, started = start(client)
    refused = post_answer(client, token, started["flow"], credential)
    assert refused.status_code == 401
    assert NEUTRAL in refused.text
    assert client.get_cookie("idp_session") is None
    assert sign_count(services, device) == 0 and failures(services) == 0
    # The flow and its challenge are spent: the right answer to them comes too late.
    late = post_answer(client, token, started["flow"], device.get(json.dumps(started["options"])))
    assert late.status_code == 400


def test_unknown_credential_gets_the_same_refusal_as_a_bad_signature(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    stranger = SoftAuthenticator(origin=device.origin, rp_id=device.rp_id)
    stranger.user_handle = device.user_handle
    unknown = passkey_sign_in(client, stranger)
    forger = SoftAuthenticator(origin=device.origin, rp_id=device.rp_id)
    forger.credential_id, forger.user_handle = device.credential_id, device.user_handle
    forged = passkey_sign_in(client, forger)
    assert (unknown.status_code, forged.status_code) == (401, 401)
    assert NEUTRAL in unknown.text and NEUTRAL in forged.text
    assert re.sub(r'value="[^"]*"', "", unknown.text) == re.sub(r'value="[^"]*"', "", forged.text)
    # Only the forgery named a credential we hold: it counts toward its owner's lockout.
    assert failures(services) == 1
    assert sign_count(services, device) == 0
    assert client.get_cookie("idp_session") is None


def test_answer_to_another_challenge_is_refused_and_counted(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    _, other = start(client)
    token, started = start(client)
    wrong = post_answer(client, token, started["flow"], device.get(json.dumps(other["options"])))
    assert wrong.status_code == 401 and NEUTRAL in wrong.text
    assert failures(services) == 1
    assert sign_count(services, device) == 0
    assert login_events(services)[-1][2]["reason"] == "passkey_invalid_response"


def test_a_replayed_answer_is_refused(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    token, started = start(client)
    answer = device.get(json.dumps(started["options"]))
    assert post_answer(client, token, started["flow"], answer).status_code == 303
    other = client.application.test_client()
    # The same flow again: it was taken by the first answer.
    assert post_answer(client, token, started["flow"], answer).status_code == 400
    # The same answer against a fresh ceremony: its challenge is not this one.
    token2, fresh = start(other)
    replayed = post_answer(other, token2, fresh["flow"], answer)
    assert replayed.status_code == 401 and NEUTRAL in replayed.text
    assert other.get_cookie("idp_session") is None
    assert sign_count(services, device) == 1


def test_a_counter_going_backwards_is_refused_audited_and_counted(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    assert passkey_sign_in(client, device, sign_count=7).status_code == 303
    other = client.application.test_client()
    cloned = passkey_sign_in(other, device, sign_count=5)
    assert cloned.status_code == 401 and NEUTRAL in cloned.text
    assert other.get_cookie("idp_session") is None
    with services.db.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(device.credential_id)
    assert found is not None and found.clone_suspected and found.sign_count == 7
    assert login_events(services)[-1] == (
        "login",
        "failure",
        {"reason": "passkey_clone_suspected", "method": "passkey"},
    )
    assert failures(services) == 1
    # Flagged: a higher counter does not help the copy (or the original) from now on.
    assert passkey_sign_in(other, device, sign_count=8).status_code == 401


def test_passkey_failures_lock_the_account_for_passwords_too(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    forger = SoftAuthenticator(origin=device.origin, rp_id=device.rp_id)
    forger.credential_id, forger.user_handle = device.credential_id, device.user_handle
    last = None
    for _ in range(services.settings.lockout.max_failures):
        last = passkey_sign_in(client, forger)
    assert last is not None and 'data-message-id="account_locked"' in last.text
    # The genuine passkey is refused while locked, and so is the password (one counter).
    locked = passkey_sign_in(client, device)
    assert locked.status_code == 401 and 'data-message-id="account_locked"' in locked.text
    page = client.get("/login")
    by_password = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert 'data-message-id="account_locked"' in by_password.text
    assert client.get_cookie("idp_session") is None
    assert sign_count(services, device) == 0


@pytest.mark.parametrize(
    ("status", "message"), [("closed", "passkey_not_accepted"), ("locked", "account_locked")]
)
def test_closed_and_locked_accounts_cannot_sign_in_by_passkey(
    factory: Factory, client: FlaskClient, services: Services, status: str, message: str
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    with services.db.transaction() as uow:
        uow.accounts.set_status(account.id, status, now=services.clock())
    refused = passkey_sign_in(client, device)
    assert refused.status_code == 401
    assert f'data-message-id="{message}"' in refused.text
    assert client.get_cookie("idp_session") is None
    assert sign_count(services, device) == 0


def test_the_ceremony_is_bound_to_the_browser(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id)
    _, started = start(client)
    stranger = client.application.test_client()
    token = csrf_token(stranger.get("/login").text)
    stolen = post_answer(
        stranger, token, started["flow"], device.get(json.dumps(started["options"]))
    )
    assert stolen.status_code == 400
    assert stranger.get_cookie("idp_session") is None
    assert sign_count(services, device) == 0


def test_recovery_codes_do_not_stand_in_for_user_verification(
    factory: Factory, client: FlaskClient, services: Services
) -> None:
    account = factory.account()
    device = enrol_passkey(services, account.id, user_verified=False)
    codes = enrol_recovery_codes(services, account.id)
    assert passkey_sign_in(client, device).status_code == 303
    page = client.get("/login/second-factor")
    refused = client.post(
        "/login/second-factor",
        data={"method": "recovery_code", "code": codes[0], "csrf_token": csrf_token(page.text)},
    )
    assert refused.status_code == 400 and client.get_cookie("idp_session") is None
    with services.db.transaction() as uow:
        assert uow.credentials.recovery_codes_left(account.id) == len(codes)
