"""Sign-up completion hands over to sign-in, which passes every factor (invariant 11)."""

from __future__ import annotations

from idp.services import Services

from ..second_factor import enrol_totp, submit_code, totp_now
from .conftest import SignupActions


def test_after_sign_up_a_factor_is_asked_for(signup: SignupActions, services: Services) -> None:
    signup.sign_up()
    verified = signup.confirm(signup.link(signup.deliver()[0]))
    assert verified.status_code == 200
    assert signup.client.get_cookie("idp_session") is None  # completion signs nobody in
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
    assert account is not None
    secret = enrol_totp(services, account.id)
    parked = signup.login()
    assert parked.status_code == 303 and parked.headers["Location"] == "/login/second-factor"
    assert signup.client.get_cookie("idp_session") is None
    assert submit_code(signup.client, totp_now(services, secret)).status_code == 303
    assert signup.client.get_cookie("idp_session") is not None
