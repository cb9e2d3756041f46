"""Bad input on every account form: a clear 400, and nothing written or counted
(security invariant 8)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ..conftest import PASSWORD
from ..helpers import message_ids
from .conftest import Browser, Mail, alert, snapshot

NEW = "lantern violet harbour quietly"
MISSING = "account_missing_fields"
TOO_LONG = "account_field_too_long"
CONTROL = "account_control_characters"


def questions(**changes: str) -> dict[str, str]:
    data = {
        "current_password": PASSWORD,
        "question_1": "first_concert",
        "answer_1": "Blondie",
        "question_2": "dream_job",
        "answer_2": "Astronaut",
        "question_3": "first_book",
        "answer_3": "Matilda",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@dataclass
class Case:
    id: str
    path: str
    data: dict[str, str]
    message_id: str
    page: str | None = None


CASES = [
    # password
    Case("password-missing-current", "/account/password",
         {"new_password": NEW, "new_password_repeat": NEW}, MISSING),
    Case("password-missing-new", "/account/password", {"current_password": PASSWORD}, MISSING),
    Case("password-oversized", "/account/password",
         {"current_password": PASSWORD, "new_password": "x" * 1025,
          "new_password_repeat": "x" * 1025}, TOO_LONG),
    Case("password-control-new", "/account/password",
         {"current_password": PASSWORD, "new_password": NEW + "\x07",
          "new_password_repeat": NEW + "\x07"}, CONTROL),
    Case("password-control-current", "/account/password",
         {"current_password": "ab\x1bcd", "new_password": NEW, "new_password_repeat": NEW},
         CONTROL),
    # email
    Case("email-missing", "/account/email", {"current_password": PASSWORD}, MISSING),
    Case("email-oversized", "/account/email",
         {"new_email": "a" * 250 + "@example.org", "current_password": PASSWORD}, TOO_LONG),
    Case("email-control", "/account/email",
         {"new_email": "al\x07ice@example.org", "current_password": PASSWORD}, CONTROL),
    Case("email-header-injection", "/account/email",
         {"new_email": "a@example.org\r\nBcc: x@evil.example", "current_password": PASSWORD},
         CONTROL),
    # phone
    Case("phone-missing", "/account/profile", {"current_password": PASSWORD}, MISSING),
    Case("phone-missing-password", "/account/profile", {"phone": "6175550123"}, MISSING),
    Case("phone-oversized", "/account/profile",
         {"phone": "1" * 65, "current_password": PASSWORD}, TOO_LONG),
    Case("phone-control", "/account/profile",
         {"phone": "617\x0b555 0123", "current_password": PASSWORD}, CONTROL),
    # security questions
    Case("questions-missing-answer", "/account/questions", questions(answer_3=None), MISSING),
    Case("questions-missing-password", "/account/questions",
         questions(current_password=None), MISSING),
    Case("questions-oversized-answer", "/account/questions", questions(answer_1="a" * 201),
         TOO_LONG),
    Case("questions-control-custom", "/account/questions",
         questions(question_1="custom", custom_question_1="What\x07 is it called?"), CONTROL),
    # close
    Case("close-missing-word", "/account/close", {"current_password": PASSWORD}, MISSING),
    Case("close-missing-password", "/account/close", {"confirmation": "CLOSE"}, MISSING),
    Case("close-oversized-word", "/account/close",
         {"current_password": PASSWORD, "confirmation": "CLOSE" * 4}, TOO_LONG),
    # sessions
    Case("session-malformed", "/account/sessions/end", {"session": "../../etc"},
         "account_session_not_found", page="/account/sessions"),
    Case("session-missing", "/account/sessions/end", {}, "account_session_not_found",
         page="/account/sessions"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_400_and_writes_nothing(
    browser: Browser, phone: Browser, mail: Mail, services, case: Case
) -> None:
    mail.deliver()
    before = snapshot(services)
    response = browser.submit(case.path, case.data, page=case.page)
    assert response.status_code == 400, response.text[:300]
    assert alert(response.text) == case.message_id
    assert snapshot(services) == before
    assert services.ephemeral.get("attempts:alice") is None  # nothing counted
    assert mail.deliver() == []
    assert phone.signed_in() and browser.signed_in()


# Requests that would succeed but for their CSRF token.
VALID = [
    ("/account/profile", {"phone": "6175550123", "current_password": PASSWORD}),
    ("/account/password",
     {"current_password": PASSWORD, "new_password": NEW, "new_password_repeat": NEW,
      "sign_out_others": "yes"}),
    ("/account/email", {"new_email": "x@example.org", "current_password": PASSWORD}),
    ("/account/questions", questions()),
    ("/account/sessions/end-all", {}),
    ("/account/close", {"current_password": PASSWORD, "confirmation": "CLOSE"}),
]  # fmt: skip


@pytest.mark.parametrize("token", ["wrong", None], ids=["wrong-csrf", "missing-csrf"])
@pytest.mark.parametrize(("path", "data"), VALID, ids=[p for p, _ in VALID])
def test_forms_without_a_valid_csrf_token_are_refused(
    browser: Browser, phone: Browser, services, path: str, data: dict[str, str], token
) -> None:
    before = snapshot(services)
    payload = dict(data)
    if token:
        payload["csrf_token"] = token
    response = browser.client.post(path, data=payload)
    assert response.status_code == 400
    assert message_ids(response.text) == ["csrf_failed"]
    assert snapshot(services) == before
    assert browser.signed_in() and phone.signed_in()


def test_session_end_without_csrf_is_refused(browser: Browser, phone: Browser) -> None:
    html = browser.get("/account/sessions").text
    key = html.split('name="session" value="', 1)[1][:64]
    response = browser.client.post("/account/sessions/end", data={"session": key})
    assert response.status_code == 400
    assert phone.signed_in()


@pytest.mark.parametrize("token", ["short", "a" * 200, "bad token!" * 3, ""])
def test_malformed_confirmation_tokens_are_refused(browser: Browser, services, token: str):
    before = snapshot(services)
    page = browser.get("/account/email/confirm", query_string={"token": token})
    assert page.status_code == 400
    assert message_ids(page.text) == ["account_email_link_invalid"]
    csrf = browser.get("/account").text.split('name="csrf_token" value="', 1)[1].split('"')[0]
    posted = browser.client.post(
        "/account/email/confirm", data={"csrf_token": csrf, "token": token}
    )
    assert posted.status_code == 400
    assert snapshot(services) == before


def test_nul_byte_is_refused_before_any_view(browser: Browser, services) -> None:
    before = snapshot(services)
    response = browser.submit(
        "/account/email", {"new_email": "a\x00@example.org", "current_password": PASSWORD}
    )
    assert response.status_code == 400
    assert snapshot(services) == before
