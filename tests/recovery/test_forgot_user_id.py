"""Forgot user ID: email → date of birth → security question → the user ID by email."""

from __future__ import annotations

import pytest

from idp.flows.recovery_common import decoy_question
from idp.services import Services
from tests.helpers import form_values, message_ids

from .conftest import ANSWER, DOB, Recovery, normalised, text_of

WRONG_DOB = "1981-04-30"


def test_user_id_is_emailed_to_the_verified_address(recovery: Recovery) -> None:
    recovery.patient("alice", email="alice@example.test")

    dob_page, question, sent = recovery.forgot_id("Alice@Example.test", DOB.isoformat(), ANSWER)

    assert [p.status_code for p in (dob_page, question, sent)] == [200, 200, 200]
    assert 'name="dob"' in dob_page.text
    assert "What was the first concert you went to?" in question.text
    assert message_ids(sent.text) == ["recovery_id_sent"]
    [mail] = recovery.mail()
    assert mail["To"] == "alice@example.test"
    assert mail["Subject"] == "Patient Sign-in: your user ID"
    assert "User ID: alice" in text_of(mail)
    assert "http://127.0.0.1:5000/login" in text_of(mail)


def test_birth_date_may_be_typed_the_us_way(recovery: Recovery) -> None:
    recovery.patient("alice")
    recovery.forgot_id("alice@example.test", "04/30/1980", ANSWER)
    assert len(recovery.mail()) == 1


def test_answer_is_compared_after_normalisation(recovery: Recovery) -> None:
    recovery.patient("alice")
    recovery.forgot_id("alice@example.test", DOB.isoformat(), "  blue oyster cult!! ")
    assert len(recovery.mail()) == 1


@pytest.mark.parametrize(
    ("dob", "answer"),
    [(WRONG_DOB, ANSWER), (DOB.isoformat(), "Metallica")],
    ids=["wrong_birth_date", "wrong_answer"],
)
def test_nothing_is_sent_on_a_mismatch_and_the_reply_is_the_same(
    recovery: Recovery, dob: str, answer: str
) -> None:
    recovery.patient("alice")
    *_, sent = recovery.forgot_id("alice@example.test", dob, answer)
    assert sent.status_code == 200
    assert message_ids(sent.text) == ["recovery_id_sent"]
    assert recovery.mail() == []


def test_unverified_or_closed_accounts_get_nothing(recovery: Recovery) -> None:
    recovery.patient("pending", email="p@example.test", email_verified=False)
    recovery.patient("gone", email="g@example.test", status="closed")
    for email in ("p@example.test", "g@example.test"):
        *_, sent = recovery.forgot_id(email, DOB.isoformat(), ANSWER)
        assert message_ids(sent.text) == ["recovery_id_sent"]
    assert recovery.mail() == []


def test_shared_email_sends_every_matching_user_id_in_one_message(recovery: Recovery) -> None:
    # Twins on a parent's address, and their older sibling born on another day.
    recovery.patient("twin-one", email="family@example.test")
    recovery.patient("twin-two", email="family@example.test")
    recovery.patient("sibling", email="family@example.test", dob=DOB.replace(year=1975))

    recovery.forgot_id("family@example.test", DOB.isoformat(), ANSWER)

    [mail] = recovery.mail()
    body = text_of(mail)
    assert "User ID: twin-one" in body and "User ID: twin-two" in body
    assert "sibling" not in body


def test_shared_email_only_the_account_whose_answer_matches(recovery: Recovery) -> None:
    recovery.patient("twin-one", email="family@example.test", questions=[("first_concert", "Abba")])
    recovery.patient(
        "twin-two", email="family@example.test", questions=[("first_concert", "Queen")]
    )
    recovery.forgot_id("family@example.test", DOB.isoformat(), "queen")
    [mail] = recovery.mail()
    assert "User ID: twin-two" in text_of(mail) and "twin-one" not in text_of(mail)


def test_account_without_questions_on_file_is_found_by_email_and_birth_date(
    recovery: Recovery,
) -> None:
    account = recovery.factory.account("office-made", dob=DOB)
    assert account.email is not None
    *_, sent = recovery.forgot_id(account.email, DOB.isoformat(), "anything at all")
    assert message_ids(sent.text) == ["recovery_id_sent"]
    [mail] = recovery.mail()
    assert "User ID: office-made" in text_of(mail)


@pytest.mark.settings(accounts__security_questions=0)
def test_without_questions_email_and_birth_date_are_enough(recovery: Recovery) -> None:
    recovery.patient("alice")
    assert "Step 1 of 2" in recovery.client.get("/forgot-user-id").text
    dob_page, sent = recovery.forgot_id("alice@example.test", DOB.isoformat())
    assert "Step 2 of 2" in dob_page.text
    assert 'name="answer"' not in sent.text
    assert message_ids(sent.text) == ["recovery_id_sent"]
    [mail] = recovery.mail()
    assert "User ID: alice" in text_of(mail)


@pytest.mark.settings(accounts__security_questions=0)
def test_without_questions_a_wrong_birth_date_sends_nothing(recovery: Recovery) -> None:
    recovery.patient("alice")
    _, sent = recovery.forgot_id("alice@example.test", WRONG_DOB)
    assert message_ids(sent.text) == ["recovery_id_sent"]
    assert recovery.mail() == []


# --- enumeration ---------------------------------------------------------------------------


def _decoy(services: Services, email: str, dob: str) -> str:
    return decoy_question(
        services.settings.secret_key, "forgot-id", email.casefold(), dob
    ).question_id


def test_every_step_is_the_same_for_a_known_and_an_unknown_email(
    recovery: Recovery, services: Services
) -> None:
    unknown = "nobody@example.test"
    # The account's question is the one the unknown email's decoy shows, so that the
    # whole question page can be compared too.
    recovery.patient("alice", questions=[(_decoy(services, unknown, DOB.isoformat()), ANSWER)])
    known_pages = recovery.forgot_id(
        "alice@example.test", DOB.isoformat(), "wrong", client=recovery.app.test_client()
    )
    unknown_pages = recovery.forgot_id(
        unknown, DOB.isoformat(), "wrong", client=recovery.app.test_client()
    )
    for known, other in zip(known_pages, unknown_pages, strict=True):
        assert normalised(known) == normalised(other)


def test_every_step_is_the_same_for_a_right_and_a_wrong_birth_date(
    recovery: Recovery, services: Services
) -> None:
    email = "alice@example.test"
    recovery.patient("alice", questions=[(_decoy(services, email, WRONG_DOB), ANSWER)])
    right = recovery.forgot_id(email, DOB.isoformat(), "wrong", client=recovery.app.test_client())
    wrong = recovery.forgot_id(email, WRONG_DOB, "wrong", client=recovery.app.test_client())
    for a, b in zip(right, wrong, strict=True):
        assert normalised(a) == normalised(b)


def test_the_last_page_is_the_same_whether_or_not_mail_was_sent(recovery: Recovery) -> None:
    recovery.patient("alice")
    *_, sent = recovery.forgot_id(
        "alice@example.test", DOB.isoformat(), ANSWER, client=recovery.app.test_client()
    )
    *_, not_sent = recovery.forgot_id(
        "nobody@example.test", DOB.isoformat(), ANSWER, client=recovery.app.test_client()
    )
    assert len(recovery.mail()) == 1
    assert normalised(sent) == normalised(not_sent)


def test_decoy_question_is_stable_for_an_unknown_email(recovery: Recovery) -> None:
    questions = {
        recovery.forgot_id("nobody@example.test", DOB.isoformat())[-1]
        .text.split('<label for="answer">')[1]
        .split("</label>")[0]
        for _ in range(3)
    }
    assert len(questions) == 1
    other = recovery.forgot_id("someone.else@example.test", DOB.isoformat())[-1].text
    assert 'name="answer"' in other


def test_a_known_account_always_gets_the_same_one_of_its_questions(recovery: Recovery) -> None:
    recovery.patient(
        "alice",
        questions=[("first_concert", "a"), ("childhood_friend", "b"), ("first_book", "c")],
    )
    shown = set()
    for _ in range(4):
        page = recovery.forgot_id("alice@example.test", DOB.isoformat())[-1]
        shown.add(page.text.split('<label for="answer">')[1].split("</label>")[0])
    assert len(shown) == 1


def test_a_later_step_cannot_switch_the_email(recovery: Recovery) -> None:
    recovery.patient("alice")
    recovery.patient("mallory", email="mallory@example.test", dob=DOB)
    email, dob = recovery.forgot_id("mallory@example.test", DOB.isoformat())
    # A forged extra field is ignored: the flow remembers what was typed first.
    sent = recovery.step("/forgot-user-id", dob, {"answer": ANSWER, "email": "alice@example.test"})
    assert message_ids(sent.text) == ["recovery_id_sent"]
    [mail] = recovery.mail()
    assert mail["To"] == "mallory@example.test"


def test_bad_input_is_a_clear_400(recovery: Recovery) -> None:
    page = recovery.post("/forgot-user-id", {"email": "not an email"})
    assert page.status_code == 400
    assert message_ids(page.text) == ["recovery_email_invalid"]
    email = recovery.post("/forgot-user-id", {"email": "a@example.test"})
    for bad in ("1980-13-01", "tomorrow", "2999-01-01", "1800-01-01"):
        page = recovery.step("/forgot-user-id", email, {"dob": bad})
        assert page.status_code == 400
        assert message_ids(page.text) == ["recovery_dob_invalid"]
    question = recovery.step("/forgot-user-id", email, {"dob": DOB.isoformat()})
    page = recovery.step("/forgot-user-id", question, {"answer": "   "})
    assert page.status_code == 400
    assert message_ids(page.text) == ["recovery_answer_missing"]


def test_an_unknown_or_finished_flow_offers_a_fresh_start(recovery: Recovery) -> None:
    recovery.patient("alice")
    _, question, _ = recovery.forgot_id("alice@example.test", DOB.isoformat(), ANSWER)
    again = recovery.step("/forgot-user-id", question, {"answer": ANSWER})  # the flow is used up
    assert again.status_code == 400
    assert message_ids(again.text) == ["recovery_flow_expired"]
    forged = recovery.client.post(
        "/forgot-user-id",
        data={"csrf_token": "x", "flow": "A" * 32, "answer": ANSWER},
    )
    assert forged.status_code == 400  # no CSRF token: refused before anything else
    assert len(recovery.mail()) == 1


def test_forms_need_a_csrf_token(recovery: Recovery) -> None:
    response = recovery.client.post("/forgot-user-id", data={"email": "a@example.test"})
    assert response.status_code == 400
    assert message_ids(response.text) == ["csrf_failed"]


# --- lockout and throttles ------------------------------------------------------------------


@pytest.mark.settings(accounts__ip_failure_limit=1000)
def test_wrong_birth_dates_and_answers_lock_the_account(recovery: Recovery) -> None:
    recovery.patient("alice")
    for dob, answer in [(WRONG_DOB, ANSWER), (DOB.isoformat(), "nope")] * 2 + [(WRONG_DOB, "x")]:
        *_, sent = recovery.forgot_id("alice@example.test", dob, answer)
        assert message_ids(sent.text) == ["recovery_id_sent"]
    # Five failures: sign-in is locked for the account's user ID...
    login = recovery.sign_in("alice", "correct horse battery staple")
    assert login.status_code == 401
    assert message_ids(login.text) == ["account_locked"]
    # No user ID went out for the wrong details; only the owner's lock notice did.
    [notice] = recovery.mail()
    assert notice["Subject"] == "Your account was locked for 15 minutes"
    with recovery.services.db.transaction() as uow:
        events = [(e.type, e.details.get("reason")) for e in uow.audit.tail(50)]
    assert ("account_locked", "temporarily_locked") in events


@pytest.mark.settings(accounts__ip_failure_limit=1000)
def test_a_strangers_guesses_never_close_the_owners_way_to_the_user_id(
    recovery: Recovery,
) -> None:
    """Invariant 12: five wrong tries close the knowledge check, not the mailbox.

    Once the email's gate is closed, every request (right details or not) gets the
    same page and the user ID goes to the verified address, which only the owner
    reads; the mail quota per address still limits how often.
    """
    recovery.patient("alice")
    stranger = recovery.app.test_client()
    for _ in range(5):
        recovery.forgot_id("alice@example.test", WRONG_DOB, "x", client=stranger)
    recovery.mail()  # the lock notice
    *_, stranger_page = recovery.forgot_id(
        "alice@example.test", WRONG_DOB, "still wrong", client=stranger
    )
    owner = recovery.app.test_client()
    *_, owner_page = recovery.forgot_id("alice@example.test", DOB.isoformat(), ANSWER, client=owner)
    for page in (stranger_page, owner_page):
        assert page.status_code == 200
        assert message_ids(page.text) == ["recovery_id_sent"]
    assert normalised(stranger_page) == normalised(owner_page)
    mails = recovery.mail()
    assert [m["To"] for m in mails] == ["alice@example.test"] * 2
    assert all("alice" in m.get_body().get_content() for m in mails)
    with recovery.services.db.transaction() as uow:
        reasons = [e.details.get("reason") for e in uow.audit.tail(10)]
    assert reasons.count("gate_closed_sent") == 2


@pytest.mark.settings(accounts__ip_failure_limit=1000)
def test_an_unknown_email_locks_exactly_like_a_known_one(recovery: Recovery) -> None:
    recovery.patient("alice")
    known, unknown = [], []
    for _ in range(6):
        known.append(
            recovery.forgot_id(
                "alice@example.test", WRONG_DOB, "x", client=recovery.app.test_client()
            )[-1]
        )
        unknown.append(
            recovery.forgot_id(
                "nobody@example.test", WRONG_DOB, "x", client=recovery.app.test_client()
            )[-1]
        )
    assert [normalised(r) for r in known] == [normalised(r) for r in unknown]
    assert [r.status_code for r in known] == [200] * 6


def test_mail_is_throttled_per_email_with_the_same_reply(recovery: Recovery) -> None:
    recovery.patient("alice")
    replies = []
    for _ in range(4):
        replies.append(recovery.forgot_id("alice@example.test", DOB.isoformat(), ANSWER)[-1])
    assert len(recovery.mail()) == 3  # the fourth request sent nothing
    assert len({normalised(r) for r in replies}) == 1


@pytest.mark.settings(accounts__ip_failure_limit=6)
def test_steps_are_throttled_per_client_address(recovery: Recovery) -> None:
    recovery.patient("alice")
    statuses = []
    for _ in range(4):
        statuses += [
            p.status_code for p in recovery.forgot_id("alice@example.test", DOB.isoformat())
        ]
    # Two steps per run (the email page is a GET): the 7th step on is refused, for
    # any email, known or not.
    assert statuses == [200] * 6 + [429]
    refused = recovery.forgot_id("nobody@example.test")[0]
    assert refused.status_code == 429
    assert message_ids(refused.text) == ["recovery_too_many_requests"]
    other = recovery.app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert recovery.forgot_id("alice@example.test", client=other)[0].status_code == 200


def test_a_refused_address_stays_in_the_form(recovery: Recovery) -> None:
    """Issue 14, item 6: what was typed stays, to be corrected rather than retyped."""
    [refused] = recovery.forgot_id("grace at example")
    assert refused.status_code == 400 and "recovery_email_invalid" in message_ids(refused.text)
    assert form_values(refused.text) == {"email": "grace at example"}
