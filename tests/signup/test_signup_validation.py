"""Every refusal of the sign-up steps: a 400 that lists all reasons, and nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from idp.services import Services

from ..helpers import MovableClock, message_ids
from .conftest import CHECK_EMAIL_IDS, CREDENTIALS, SignupActions, domain_rows, reasons

NOTHING = {"accounts": 0, "persons": 0, "security_answers": 0, "action_tokens": 0, "outbox": 0}


def _today() -> date:
    return datetime.now(UTC).date()  # the provider's clock is UTC


def _years_ago(years: int, days: int = 0) -> str:
    today = _today()
    try:
        then = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        then = today.replace(year=today.year - years, day=28)
    return (then + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"first_name": ""}, ["first_name_required"]),
        ({"first_name": "   "}, ["first_name_required"]),
        ({"first_name": None}, ["first_name_required"]),
        ({"first_name": "G" * 101}, ["first_name_too_long"]),
        ({"first_name": "G" * 5000}, ["first_name_too_long"]),
        ({"first_name": "Gr\x01ace"}, ["first_name_invalid"]),
        ({"first_name": "Grace\u2028Eve"}, ["first_name_invalid"]),
        ({"first_name": "Grace\x7f"}, ["first_name_invalid"]),
        ({"last_name": ""}, ["last_name_required"]),
        ({"last_name": "H" * 101}, ["last_name_too_long"]),
        ({"last_name": "Hop\x1bper"}, ["last_name_invalid"]),
        ({"dob": ""}, ["dob_required"]),
        ({"dob": "2023-02-30"}, ["dob_invalid"]),
        ({"dob": "2023-13-01"}, ["dob_invalid"]),
        ({"dob": "1990-5-17"}, ["dob_invalid"]),
        ({"dob": "17/05/1990"}, ["dob_invalid"]),
        ({"dob": "19900517"}, ["dob_invalid"]),
        ({"dob": "١٩٩٠-٠٥-١٧"}, ["dob_invalid"]),  # non-ASCII digits
        ({"dob": "1899-12-31"}, ["dob_invalid"]),
        ({"dob": "1990-05-17T00:00"}, ["dob_invalid"]),
        ({"dob": (_today() + timedelta(days=2)).isoformat()}, ["dob_in_future"]),
        ({"dob": "2999-01-01"}, ["dob_in_future"]),
        ({"dob": _years_ago(13, days=2)}, ["dob_under_min_age"]),
        ({"dob": _years_ago(5)}, ["dob_under_min_age"]),
        ({"zip": ""}, ["zip_invalid"]),
        ({"zip": "0213"}, ["zip_invalid"]),
        ({"zip": "021390"}, ["zip_invalid"]),
        ({"zip": "02139-12"}, ["zip_invalid"]),
        ({"zip": "02139 4307"}, ["zip_invalid"]),
        ({"zip": "abcde"}, ["zip_invalid"]),
        ({"zip": "0" * 500}, ["zip_invalid"]),
        ({"gender": ""}, ["gender_invalid"]),
        ({"gender": "F"}, ["gender_invalid"]),
        ({"gender": "Female"}, ["gender_invalid"]),
        ({"gender": "robot"}, ["gender_invalid"]),
        ({"email": ""}, ["email_invalid"]),
        ({"email": "not-an-email"}, ["email_invalid"]),
        ({"email": "a@b@example.test"}, ["email_invalid"]),
        ({"email": "Grace <grace@example.test>"}, ["email_invalid"]),
        ({"email": "grace@example.test,eve@example.test"}, ["email_invalid"]),
        ({"email": "grace@example.test\r\nBcc: eve@example.test"}, ["email_invalid"]),
        ({"email": "g" * 250 + "@example.test"}, ["email_invalid"]),
    ],
)
def test_step_one_refusals(
    signup: SignupActions, services: Services, changes: dict[str, str | None], expected: list[str]
) -> None:
    response = signup.start(**changes)
    assert response.status_code == 400, response.text[:500]
    assert reasons(response.text) == expected
    assert 'name="f"' not in response.text
    assert domain_rows(services) == NOTHING
    with services.db.transaction() as uow:
        assert uow.audit.tail(10) == []


def test_step_one_lists_every_reason_at_once_and_keeps_the_values(
    signup: SignupActions,
) -> None:
    response = signup.start(
        first_name="", last_name="Hop", dob="2023-02-30", zip="1", gender="x", email="@"
    )
    assert response.status_code == 400
    assert reasons(response.text) == [
        "first_name_required",
        "dob_invalid",
        "zip_invalid",
        "gender_invalid",
        "email_invalid",
    ]
    assert 'value="Hop"' in response.text and 'value="2023-02-30"' in response.text
    assert response.text.count('aria-invalid="true"') == 5


def test_under_age_message_says_the_practice_enrolls_them(signup: SignupActions) -> None:
    response = signup.start(dob=_years_ago(12))
    text = response.text
    assert "at least 13 years old" in text and "enrolled by their practice" in text


def test_thirteenth_birthday_is_old_enough(signup: SignupActions) -> None:
    assert signup.start(dob=_years_ago(13)).status_code == 200


def test_zip_plus_four_is_accepted(signup: SignupActions) -> None:
    assert signup.start(zip="02139-4307").status_code == 200


def test_nul_byte_is_refused_before_anything(signup: SignupActions, services: Services) -> None:
    response = signup.start(first_name="Gr\x00ace")
    assert response.status_code == 400
    assert message_ids(response.text) == ["bad_request"]
    assert domain_rows(services) == NOTHING


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"username": ""}, ["username_invalid"]),
        ({"username": "gh"}, ["username_invalid"]),
        ({"username": "g" * 65}, ["username_invalid"]),
        ({"username": "g" * 3000}, ["username_invalid"]),
        ({"username": "grace hopper"}, ["username_invalid"]),
        ({"username": "grace\x01"}, ["username_invalid"]),
        ({"username": "gräce"}, ["username_invalid"]),
        ({"username": "grace<script>"}, ["username_invalid"]),
        ({"password": ""}, ["too_short"]),
        ({"password": None}, ["too_short"]),
        ({"password": "short"}, ["too_short"]),
        ({"password": "x7Q!" * 33}, ["too_long"]),
        ({"password": "z" * 5000}, ["too_long"]),
        ({"password": "grace hopper likes long walks"}, ["contains_context_word"]),
        ({"password": "my ghopper account password"}, ["contains_context_word"]),
        ({"password": "password"}, ["too_short", "common_password"]),
        ({"password": "grace"}, ["too_short", "contains_context_word"]),
        ({"question_2": "first_concert"}, ["duplicate_question"]),
        ({"question_3": ""}, ["unknown_question"]),
        ({"question_3": "mothers_maiden_name"}, ["unknown_question"]),
        ({"answer_1": "ab"}, ["answer_too_short"]),
        ({"answer_1": "!!!"}, ["answer_too_short"]),
        ({"answer_1": "a" * 101}, ["answer_too_long"]),
        ({"answer_2": "the rolling stones!"}, ["answer_repeated"]),
        ({"answer_3": "GHopper"}, ["answer_is_credential"]),
        ({"question_3": "custom", "custom_question_3": "Why?"}, ["custom_question_invalid"]),
        ({"accept_terms": None}, ["terms_not_accepted"]),
        ({"accept_terms": "no"}, ["terms_not_accepted"]),
        ({"accept_terms": ""}, ["terms_not_accepted"]),
    ],
)
def test_step_two_refusals(
    signup: SignupActions, services: Services, changes: dict[str, str | None], expected: list[str]
) -> None:
    first = signup.start()
    flow_id = signup.flow_id(first)
    response = signup.account(flow_id, **changes)
    assert response.status_code == 400, response.text[:500]
    assert reasons(response.text) == expected
    assert signup.flow_id(response) == flow_id  # the flow goes on
    assert domain_rows(services) == NOTHING
    # Fixing it completes the sign-up with the same flow.
    assert message_ids(signup.account(flow_id).text) == CHECK_EMAIL_IDS


def test_step_two_lists_every_reason_at_once(signup: SignupActions, services: Services) -> None:
    first = signup.start()
    response = signup.account(
        signup.flow_id(first),
        username="x",
        password="grace",
        question_2="first_concert",
        answer_3="ab",
        accept_terms=None,
    )
    assert response.status_code == 400
    assert reasons(response.text) == [
        "username_invalid",
        "too_short",
        "contains_context_word",
        "duplicate_question",
        "answer_too_short",
        "terms_not_accepted",
    ]
    # The password texts come from the active policy.
    assert "Use at least 15 characters." in response.text
    # The page keeps the user ID, the questions and the answers being chosen (issue 14,
    # item 6: a refused password no longer clears them), never the password.
    assert 'value="x"' in response.text
    assert 'value="grace"' not in response.text
    assert 'name="answer_3" type="text"' in response.text and 'value="ab"' in response.text
    assert domain_rows(services) == NOTHING


@pytest.mark.settings(password_policy="portal-classic")
def test_portal_classic_password_rules(signup: SignupActions) -> None:
    first = signup.start()
    response = signup.account(signup.flow_id(first), password="abc#")
    assert reasons(response.text) == ["too_short", "needs_digit_or_upper", "forbidden_character"]
    assert "Do not use these characters: # % &amp; *" in response.text
    done = signup.account(signup.flow_id(first), password="Blue42x")
    assert message_ids(done.text) == CHECK_EMAIL_IDS


@pytest.mark.parametrize("flow_id", [None, "", "nonsense", "A" * 43, "A" * 5000])
def test_missing_or_unknown_flow_starts_again(
    signup: SignupActions, services: Services, flow_id: str | None
) -> None:
    response = signup.account(flow_id)
    assert response.status_code == 400
    assert message_ids(response.text) == ["signup_flow_expired"]
    assert 'name="first_name"' in response.text  # step 1 again, right there
    assert domain_rows(services) == NOTHING


def test_flow_expires_after_thirty_minutes(
    signup: SignupActions, services: Services, clock: MovableClock
) -> None:
    first = signup.start()
    clock.advance(30 * 60 + 1)
    response = signup.account(signup.flow_id(first))
    assert response.status_code == 400
    assert message_ids(response.text) == ["signup_flow_expired"]
    assert domain_rows(services) == NOTHING


def test_flow_lives_until_then(signup: SignupActions, clock: MovableClock) -> None:
    first = signup.start()
    clock.advance(29 * 60)
    assert message_ids(signup.account(signup.flow_id(first)).text) == CHECK_EMAIL_IDS


def test_forms_without_csrf_token_are_refused(signup: SignupActions, services: Services) -> None:
    response = signup.client.post("/signup", data={"first_name": "Grace"})
    assert response.status_code == 400
    assert message_ids(response.text) == ["csrf_failed"]
    first = signup.start()
    response = signup.client.post(
        "/signup/account", data={**CREDENTIALS, "f": signup.flow_id(first)}
    )
    assert response.status_code == 400 and message_ids(response.text) == ["csrf_failed"]
    assert domain_rows(services) == NOTHING
