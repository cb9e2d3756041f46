"""First sign-in of an office-made account passes the second factor too (invariant 11)."""

from __future__ import annotations

from flask.testing import FlaskClient

from idp.policies.assurance import ACR_MFA

from ..conftest import Factory
from ..helpers import OIDCActions, csrf_token, query
from ..second_factor import enrol_totp, submit_code, totp_now
from .test_first_signin import TEMPORARY, _setup_form, _sign_in


def test_first_signin_with_a_factor_stops_at_it_after_setup(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, services
) -> None:
    account = factory.account(
        username="mrivera", password=TEMPORARY, must_change_password=True, email_verified=False
    )
    secret = enrol_totp(services, account.id)
    rp = factory.client(first_party=True)
    req = oidc.request(rp)
    interaction = query(oidc.authorize(req).headers["Location"])["i"]
    to_setup = _sign_in(client, TEMPORARY, i=interaction)
    assert to_setup.headers["Location"] == "/login/setup"
    page = client.get("/login/setup")
    parked = client.post(
        "/login/setup", data={**_setup_form(), "csrf_token": csrf_token(page.text)}
    )
    assert parked.status_code == 303 and parked.headers["Location"] == "/login/second-factor"
    assert client.get_cookie("idp_session") is None
    # The setup step is used up: it cannot be replayed to skip the factor.
    assert client.get("/login/setup").status_code == 400

    done = submit_code(client, totp_now(services, secret))
    final = oidc.follow_to_redirect(done, login=False)
    code = query(final.headers["Location"])["code"]
    tokens = oidc.exchange(rp, req, code).get_json()
    claims = oidc.id_token(tokens["id_token"], rp, nonce=req.nonce).claims
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp", "mfa"]
