"""Sign-up under other settings: questions turned off, sign-up turned off."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from idp.services import Services
from idp.settings import AccountSettings

from ..helpers import csrf_token, message_ids
from .conftest import (
    CHECK_EMAIL_IDS,
    CREDENTIALS,
    DEMOGRAPHICS,
    QUESTIONS,
    SignupActions,
    pending_registrations,
)


@pytest.mark.settings(accounts=AccountSettings(security_questions=0))
def test_without_security_questions(signup: SignupActions, services: Services) -> None:
    first = signup.start()
    assert 'name="question_1"' not in first.text and "Security question" not in first.text
    no_questions = {key: None for key in QUESTIONS}
    done = signup.account(signup.flow_id(first), **no_questions)
    assert message_ids(done.text) == CHECK_EMAIL_IDS
    [pending] = pending_registrations(services)
    assert pending.answers == ()
    signup.confirm(signup.link(signup.deliver()[0]))
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
        assert account is not None
        assert uow.security_answers.for_account(account.id) == []
    assert signup.login().status_code == 303


@pytest.mark.settings(accounts=AccountSettings(security_questions=0))
def test_questions_sent_anyway_are_ignored_when_turned_off(
    signup: SignupActions, services: Services
) -> None:
    done = signup.sign_up()  # posts three questions nobody asked for
    assert message_ids(done.text) == CHECK_EMAIL_IDS
    assert pending_registrations(services)[0].answers == ()
    signup.confirm(signup.link(signup.deliver()[0]))
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
        assert account is not None and uow.security_answers.for_account(account.id) == []


@pytest.mark.settings(accounts=AccountSettings(security_questions=1))
def test_one_question(signup: SignupActions) -> None:
    first = signup.start()
    assert 'name="question_1"' in first.text and 'name="question_2"' not in first.text
    assert message_ids(signup.account(signup.flow_id(first)).text) == CHECK_EMAIL_IDS


@pytest.mark.settings(accounts=AccountSettings(signup_min_age=18))
def test_minimum_age_follows_the_setting(signup: SignupActions) -> None:
    response = signup.start(dob="2010-01-01")
    assert "at least 18 years old" in response.text


@pytest.mark.settings(accounts=AccountSettings(signup_enabled=False))
def test_every_sign_up_route_is_404_when_turned_off(client: FlaskClient) -> None:
    login = client.get("/login")
    assert "Create an account" not in login.text and "/signup" not in login.text
    csrf = csrf_token(login.text)
    paths = (
        "/signup",
        "/signup/account",
        "/signup/verify?token=x",
        "/signup/verify/user-id",
        "/signup/resend",
    )
    for path in paths:
        assert client.get(path).status_code == 404, path
        posted = client.post(path, data={**DEMOGRAPHICS, **CREDENTIALS, "csrf_token": csrf})
        assert posted.status_code == 404, path
        assert message_ids(posted.text) == ["not_found"]
