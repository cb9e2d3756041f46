"""A refused sign-up step keeps what the patient typed, except the password (issue 14,
item 6: a refused password used to clear all three security answers), and says what is
wrong in the one error summary: a list inside a role="alert" wrapper, linking to fields."""

from __future__ import annotations

import re

from ..helpers import form_values
from .conftest import CREDENTIALS, DEMOGRAPHICS, QUESTIONS, SignupActions, reasons

SUMMARY = re.compile(
    r'<div class="message error error-summary" role="alert"[^>]*>(.*?)</div>', re.S
)


def test_a_refused_password_keeps_the_user_id_questions_answers_and_terms(
    signup: SignupActions,
) -> None:
    response = signup.account(signup.flow_id(signup.start()), password="short")
    assert response.status_code == 400 and reasons(response.text) == ["too_short"]
    kept = form_values(response.text)
    assert kept["username"] == CREDENTIALS["username"]
    assert {name: kept[name] for name in QUESTIONS} == QUESTIONS
    assert kept["accept_terms"] == "yes"
    assert kept["password"] == "" and 'value="short"' not in response.text  # never echoed


def test_a_refused_first_step_keeps_every_field(signup: SignupActions) -> None:
    response = signup.start(zip="ABCDE", gender="not-a-gender")
    assert response.status_code == 400
    kept = form_values(response.text)
    assert {k: kept[k] for k in ("first_name", "last_name", "dob", "email")} == {
        k: DEMOGRAPHICS[k] for k in ("first_name", "last_name", "dob", "email")
    }
    assert kept["zip"] == "ABCDE"


def test_the_birth_date_is_accepted_as_its_hint_shows_it(signup: SignupActions) -> None:
    page = signup.client.get("/signup").text
    assert "Month, day and year, for example 04/30/1980." in page
    assert 'id="dob" name="dob" type="date"' in page  # a date input sends YYYY-MM-DD
    # A browser without a date input shows a text box: what the hint says is accepted.
    assert signup.start(dob="05/17/1990").status_code == 200
    for bad in ("17/05/1990", "02/30/1990", "1990/05/17", "5-17-1990"):
        refused = signup.start(dob=bad)
        assert refused.status_code == 400 and reasons(refused.text) == ["dob_invalid"], bad
        assert form_values(refused.text)["dob"] == bad


def test_the_error_summary_is_a_list_in_an_alert_that_links_to_the_fields(
    signup: SignupActions,
) -> None:
    response = signup.start(first_name="", zip="ABCDE")
    [summary] = SUMMARY.findall(response.text)
    assert '<h2 class="error-summary-heading">There is a problem</h2>' in summary
    assert summary.count("<ul>") == 1 and "role=" not in summary  # the role is the wrapper's
    items = re.findall(r'<li data-reason="([^"]+)"><a href="#([^"]+)">', summary)
    assert items == [("first_name_required", "first_name"), ("zip_invalid", "zip")]
    for _, field_id in items:
        assert f'id="{field_id}"' in response.text
    # A page with nothing wrong has no summary at all.
    assert "error-summary" not in signup.client.get("/signup").text
