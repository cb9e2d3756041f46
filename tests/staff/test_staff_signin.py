"""Staff sign in through the same provider, always with a second factor (issue 9 item 7,
issue 11 item 1); the console gate: MFA session, 15-minute idle timeout, role, 403."""

from __future__ import annotations

from flask.testing import FlaskClient

from idp.services import Services

from ..conftest import Factory
from ..helpers import MovableClock, OIDCActions, csrf_token, query
from ..second_factor import enrol_totp, submit_code, totp_now
from .conftest import make_staff

UNLOCK = "/admin/_probe/unlock"
STAFF = "/admin/_probe/staff"


def _sign_in_with_code(oidc: OIDCActions, client: FlaskClient, services: Services, secret: str):
    parked = oidc.login("/login", username="dana")
    assert parked.status_code == 303 and parked.headers["Location"] == "/login/second-factor"
    return submit_code(client, totp_now(services, secret))


def test_staff_without_a_factor_gets_no_code_at_a_portal_and_is_sent_to_enrol(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    dana = factory.account(username="dana")
    make_staff(services, dana, "support")
    rp = factory.client(first_party=True)  # a portal that asks nothing special

    refused = oidc.login(oidc.authorize(oidc.request(rp)).headers["Location"], username="dana")
    assert refused.status_code == 403
    assert 'data-message-id="mfa_enrolment_required"' in refused.text
    assert client.get_cookie("idp_session") is None

    # The provider's own pages take the password, so the factor can be enrolled ...
    oidc.sign_in("dana")
    to_enrol = client.get(UNLOCK)
    assert to_enrol.status_code == 303 and to_enrol.headers["Location"] == "/account/two-step"
    # ... and a portal still gets no code from that password-only session.
    again = oidc.authorize(oidc.request(rp))
    assert again.status_code == 303 and again.headers["Location"].startswith("/login?")


def test_a_patient_without_a_factor_still_signs_in_to_that_portal(
    oidc: OIDCActions, factory: Factory
) -> None:
    factory.account(username="alice")
    rp = factory.client(first_party=True)
    assert "access_token" in oidc.tokens(rp)


def test_staff_password_session_after_enrolling_must_sign_in_again_with_the_factor(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    dana = factory.account(username="dana")
    make_staff(services, dana, "support")
    oidc.sign_in("dana")  # password only, before the factor
    secret = enrol_totp(services, dana.id)
    to_login = client.get(UNLOCK + "?q=1")
    assert to_login.status_code == 303 and to_login.headers["Location"] == "/login"
    done = _sign_in_with_code(oidc, client, services, secret)
    # back to the page that sent the browser away
    assert done.status_code == 303 and done.headers["Location"] == UNLOCK + "?q=1"
    page = client.get(UNLOCK)
    assert page.status_code == 200 and page.text == "unlock by staff:dana as support"


def test_signed_out_browser_goes_to_the_login_and_comes_back(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    dana = factory.account(username="dana")
    make_staff(services, dana, "admin")
    secret = enrol_totp(services, dana.id)
    first = client.get(STAFF)
    assert first.status_code == 303 and first.headers["Location"] == "/login"
    done = _sign_in_with_code(oidc, client, services, secret)
    assert done.headers["Location"] == STAFF
    assert client.get(STAFF).text == "staff_manage by staff:dana as admin"


def test_the_login_never_returns_to_a_foreign_place(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    factory.account(username="alice")
    with client.session_transaction() as session:
        session["idp_return_to"] = "https://evil.example/admin/"
    assert oidc.sign_in("alice").headers["Location"] == "/"
    with client.session_transaction() as session:
        session["idp_return_to"] = "/admin//evil.example"
    assert oidc.sign_in("alice").headers["Location"] == "/"


def test_role_and_non_staff_get_403(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    dana = factory.account(username="dana")
    make_staff(services, dana, "support")
    secret = enrol_totp(services, dana.id)
    _sign_in_with_code(oidc, client, services, secret)
    assert client.get(UNLOCK).status_code == 200
    forbidden = client.get(STAFF)
    assert forbidden.status_code == 403
    assert 'data-message-id="staff_forbidden"' in forbidden.text

    # a patient with MFA, in another browser: not staff, so 403 whatever the session
    patient = factory.account(username="pat")
    patient_secret = enrol_totp(services, patient.id)
    browser = client.application.test_client()
    page = browser.get("/login")
    browser.post(
        "/login",
        data={"username": "pat", "password": "correct horse battery staple",
              "csrf_token": csrf_token(page.text)},
    )  # fmt: skip
    assert submit_code(browser, totp_now(services, patient_secret)).status_code == 303
    assert browser.get(UNLOCK).status_code == 403


def test_console_idle_for_15_minutes_ends_the_session(
    oidc: OIDCActions,
    factory: Factory,
    client: FlaskClient,
    services: Services,
    clock: MovableClock,
) -> None:
    dana = factory.account(username="dana")
    make_staff(services, dana, "support")
    secret = enrol_totp(services, dana.id)
    _sign_in_with_code(oidc, client, services, secret)
    for _ in range(3):  # activity keeps it going past 15 minutes in total
        clock.advance(14 * 60)
        assert client.get(UNLOCK).status_code == 200
    clock.advance(15 * 60 + 1)
    ended = client.get(UNLOCK)
    assert ended.status_code == 303 and ended.headers["Location"] == "/login"
    assert client.get_cookie("idp_session") is None
    # the SSO session itself is over, not just the console's view of it
    assert client.get("/account").status_code in (302, 303)


def test_staff_with_a_factor_always_stops_at_it_even_where_no_mfa_is_asked(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services: Services
) -> None:
    dana = factory.account(username="dana")
    make_staff(services, dana, "auditor")
    secret = enrol_totp(services, dana.id)
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    parked = oidc.login(oidc.authorize(req).headers["Location"], username="dana")
    assert parked.headers["Location"] == "/login/second-factor"
    assert client.get_cookie("idp_session") is None
    done = submit_code(client, totp_now(services, secret))
    final = oidc.follow_to_redirect(done, login=False)
    assert "code" in query(final.headers["Location"])
