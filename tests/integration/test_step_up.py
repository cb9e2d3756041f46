"""Step-up for sensitive changes uses the sign-in methods and their lockout (issue 9)."""

from __future__ import annotations

from idp.records import RequestMeta
from idp.store.usernames import username_key

from ..conftest import PASSWORD, Factory
from ..second_factor import enrol_recovery_codes, enrol_totp, totp_now


def test_step_up_takes_a_password_or_a_factor_and_counts_failures(
    factory: Factory, services
) -> None:
    account = factory.account()
    secret = enrol_totp(services, account.id)
    codes = enrol_recovery_codes(services, account.id)
    meta = RequestMeta(ip="203.0.113.9")
    with services.db.transaction() as uow:
        ok = services.step_up.password(
            uow, account, PASSWORD, meta=meta, now=services.clock(), source="test"
        )
    assert ok.ok and ok.method == "password"

    before = services.attempts.total(username_key("alice"))
    wrong = services.step_up.second_factor(
        account.id, {"method": "totp", "code": "12345"}, flow_id="f", meta=meta, source="test"
    )
    assert not wrong.ok
    assert services.attempts.total(username_key("alice")) == before + 1

    app = services.step_up.second_factor(
        account.id,
        {"method": "totp", "code": totp_now(services, secret)},
        flow_id="f",
        meta=meta,
        source="test",
    )
    assert app.ok and app.method == "totp"
    spent = services.step_up.second_factor(
        account.id,
        {"method": "recovery_code", "code": codes[0]},
        flow_id="f",
        meta=meta,
        source="test",
    )
    assert spent.ok and spent.method == "recovery_code"
    again = services.step_up.second_factor(
        account.id,
        {"method": "recovery_code", "code": codes[0]},
        flow_id="f",
        meta=meta,
        source="test",
    )
    assert not again.ok
