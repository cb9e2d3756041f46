"""A reset link's new password meets NIST's 8-character minimum once the account has a
second factor (15 without); issue 9 item 7, the rule :mod:`idp.policies.password` holds."""

from __future__ import annotations

import pytest

from idp.records import AccountRecord
from idp.services import Services
from tests.helpers import message_ids

from .conftest import Recovery

link_flow = pytest.mark.settings(accounts__reset_flow="link")
TWELVE = "tangerine-97"


def _link(recovery: Recovery) -> str:
    [sent] = recovery.forgot_password("alice")
    assert message_ids(sent.text) == ["recovery_reset_link_sent"], sent.text
    [mail] = recovery.mail()
    return recovery.link(mail)


def _enrol_app(services: Services, account: AccountRecord) -> None:
    method = services.second_factors.totp
    enrolment = method.start_enrolment(account_name=account.username)
    with services.db.transaction() as uow:
        uow.credentials.add_totp(
            account.id,
            secret_ciphertext=method.seal_pending(account.id, enrolment.secret),
            label="App",
            step=1,
            now=services.clock(),
        )


@link_flow
def test_twelve_characters_are_too_short_without_a_second_factor(recovery: Recovery) -> None:
    recovery.patient("alice")
    refused = recovery.choose(_link(recovery), TWELVE)
    assert refused.status_code == 400
    assert 'data-reason="too_short"' in refused.text


@link_flow
def test_twelve_characters_suffice_with_a_second_factor(
    recovery: Recovery, services: Services
) -> None:
    account = recovery.patient("alice")
    _enrol_app(services, account)
    link = _link(recovery)
    still_short = recovery.choose(link, "tang-97")
    assert 'data-reason="too_short"' in still_short.text
    answer = recovery.choose(link, TWELVE)
    # Accepted by the password rule (what happens next is the reset's second-factor step).
    assert 'data-reason="too_short"' not in answer.text
    assert answer.status_code == 200, answer.text[:500]
