"""Every recovery page is the same, whole, for every kind of account and for none.

Security invariant 4; issue 8, items 5 and 6. Kinds of known account: curated
questions, custom questions only (their text is never shown), and no questions at all
(``idp users add --password``). Compared: status, every header but Set-Cookie and
Content-Length, and the body with the CSRF token and flow id blanked.

The question shown is chosen by an HMAC of what was typed, for known and unknown
alike, so to compare whole pages the unknown user ID (or email) is one whose decoy is
the question the known account is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

import pytest

from idp.flows.credentials import hash_questions
from idp.flows.recovery_common import QuestionRef, decoy_question
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord
from idp.services import Services
from idp.store.sql.repositories import username_key

from .conftest import ANSWER, DOB, Recovery, normalised

KINDS = ("curated", "custom_only", "no_questions")


def _make(recovery: Recovery, kind: str, username: str, question: str) -> AccountRecord:
    account = recovery.factory.account(username, dob=DOB)
    choices = {
        "curated": [QuestionChoice(question_id=question, answer=ANSWER)],
        "custom_only": [
            QuestionChoice(
                question_id="custom",
                answer=ANSWER,
                custom_text="What did my grandmother call her garden gnome?",
            )
        ],
        "no_questions": [],
    }[kind]
    if choices:
        with recovery.services.db.transaction() as uow:
            uow.security_answers.replace(
                account.id,
                hash_questions(choices, recovery.services.hashing),
                now=recovery.services.clock(),
            )
    return account


def _twin(shown: QuestionRef, decoy_of: Callable[[str], QuestionRef], pattern: str) -> str:
    """An unknown name whose decoy question is ``shown``."""
    for n in count():
        name = pattern.format(n)
        if decoy_of(name) == shown:
            return name
    raise AssertionError("unreachable")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("answer", ["wrong answer", ANSWER])
def test_forgot_password_pages_are_the_same_for_every_kind_of_account(
    recovery: Recovery, services: Services, kind: str, answer: str
) -> None:
    secret = services.settings.secret_key

    def decoy_of(name: str) -> QuestionRef:
        return decoy_question(secret, "forgot-password", username_key(name))

    # A curated account is asked its own question: make it the one "alice" would get.
    _make(recovery, kind, "alice", decoy_of("alice").question_id)
    unknown = _twin(decoy_of("alice"), decoy_of, "nobody{}")
    known = recovery.forgot_password("alice", answer, client=recovery.app.test_client())
    other = recovery.forgot_password(unknown, answer, client=recovery.app.test_client())
    assert len(known) == len(other) == 2
    for a, b in zip(known, other, strict=True):
        assert normalised(a) == normalised(b)


@pytest.mark.parametrize("kind", KINDS)
def test_forgot_user_id_pages_are_the_same_for_every_kind_of_account(
    recovery: Recovery, services: Services, kind: str
) -> None:
    secret = services.settings.secret_key
    email = "alice@example.test"

    def decoy_of(address: str) -> QuestionRef:
        return decoy_question(secret, "forgot-id", address.casefold(), DOB.isoformat())

    _make(recovery, kind, "alice", decoy_of(email).question_id)
    unknown = _twin(decoy_of(email), decoy_of, "nobody{}@example.test")
    for answer in ("wrong answer", ANSWER):
        known = recovery.forgot_id(
            email, DOB.isoformat(), answer, client=recovery.app.test_client()
        )
        other = recovery.forgot_id(
            unknown, DOB.isoformat(), answer, client=recovery.app.test_client()
        )
        assert len(known) == len(other) == 3
        for a, b in zip(known, other, strict=True):
            assert normalised(a) == normalised(b)


@pytest.mark.settings(accounts__reset_flow="link")
@pytest.mark.parametrize("kind", KINDS)
def test_link_flow_page_is_the_same_for_every_kind_of_account(
    recovery: Recovery, kind: str
) -> None:
    _make(recovery, kind, "alice", "first_concert")
    [known] = recovery.forgot_password("alice", client=recovery.app.test_client())
    [other] = recovery.forgot_password("nobody", client=recovery.app.test_client())
    assert normalised(known) == normalised(other)
