"""Issue 8, items 5 and 6: no reset password chosen by a stranger, no question that tells.

An account with no curated security question on file (``idp users add --password``,
made while questions were off, or custom questions only) used to accept any answer in
the questions flow, and its owner got a "Confirm my password" link for the password
the requester typed: one click and the requester was in. It now gets the link flow's
"choose a new password" link, and the confirmation page says when and from where a
reset was asked for, with a "This wasn't me" button.
"""

from __future__ import annotations

import html

from idp.flows.credentials import hash_questions
from idp.flows.recovery_common import decoy_question
from idp.policies.security_questions import QuestionChoice
from idp.records import AccountRecord
from idp.services import Services
from idp.store.sql.repositories import username_key
from tests.conftest import PASSWORD
from tests.helpers import csrf_token, message_ids

from .conftest import ANSWER, DOB, NEW_PASSWORD, Recovery, normalised, text_of

CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
CUSTOM_QUESTION = "What was the name of the street my grandmother lived on?"


def _signs_in(recovery: Recovery, username: str, password: str) -> bool:
    response = recovery.sign_in(username, password, client=recovery.app.test_client())
    return response.status_code == 303


def _custom_questions_only(recovery: Recovery, account: AccountRecord) -> None:
    choices = [QuestionChoice(question_id="custom", answer=ANSWER, custom_text=CUSTOM_QUESTION)]
    with recovery.services.db.transaction() as uow:
        uow.security_answers.replace(
            account.id,
            hash_questions(choices, recovery.services.hashing),
            now=recovery.services.clock(),
        )


def _question(page_html: str) -> str:
    return html.unescape(page_html.split('<label for="answer">')[1].split("</label>")[0])


# --- item 5: the requester never chooses the password ------------------------------------


def test_account_without_questions_never_takes_the_requesters_password(
    recovery: Recovery, services: Services
) -> None:
    recovery.factory.account("office-made")  # as `idp users add --password`: no questions
    *_, sent = recovery.forgot_password("office-made", "any answer at all", NEW_PASSWORD)
    assert message_ids(sent.text) == ["recovery_reset_sent"]

    [mail] = recovery.mail()
    assert mail["Subject"] == "Patient Sign-in: reset your password"
    assert "was not kept" in text_of(mail)
    link = recovery.link(mail)
    # The link flow's page, where the mailbox's holder chooses the password; no
    # "Confirm my password" link for what the requester typed exists anywhere.
    assert link.startswith("/reset/password?token=")
    assert "/reset/confirm" not in text_of(mail)
    assert not _signs_in(recovery, "office-made", NEW_PASSWORD)
    assert _signs_in(recovery, "office-made", PASSWORD)

    chosen = "the owner's own choice, typed on the link"
    done = recovery.choose(link, chosen)
    assert message_ids(done.text) == ["recovery_password_changed"]
    assert _signs_in(recovery, "office-made", chosen)
    assert not _signs_in(recovery, "office-made", NEW_PASSWORD)
    with services.db.transaction() as uow:
        [requested] = [e for e in uow.audit.tail(50) if e.type == "password_reset_requested"]
    assert requested.details["flow"] == "link"
    assert requested.details["asked"] == "no_questions_on_file"


def test_account_with_custom_questions_only_gets_the_link_flow(recovery: Recovery) -> None:
    account = recovery.factory.account("alice", dob=DOB)
    _custom_questions_only(recovery, account)
    # Even the right answer to the custom question cannot pick the password: the
    # question is never shown, so nothing typed on the form proves anything.
    *_, sent = recovery.forgot_password("alice", ANSWER, NEW_PASSWORD)
    assert message_ids(sent.text) == ["recovery_reset_sent"]
    [mail] = recovery.mail()
    assert recovery.link(mail).startswith("/reset/password?token=")
    assert not _signs_in(recovery, "alice", NEW_PASSWORD)


def test_account_without_questions_answers_like_an_unknown_user_id(
    recovery: Recovery, services: Services
) -> None:
    """Same pages, and the answer counts toward the lockout exactly as an unknown's does."""
    secret = services.settings.secret_key
    recovery.factory.account("office-made")
    known = recovery.forgot_password("office-made", "x", client=recovery.app.test_client())
    unknown = recovery.forgot_password("bob", "x", client=recovery.app.test_client())
    for user_id, pages in (("office-made", known), ("bob", unknown)):
        decoy = decoy_question(secret, "forgot-password", username_key(user_id))
        assert _question(pages[0].text) == decoy.text
    assert normalised(known[-1]) == normalised(unknown[-1])
    counts = {
        name: services.attempts.failures(username_key(name)) for name in ("office-made", "bob")
    }
    assert counts["office-made"] == counts["bob"] == 1


# --- the confirmation page: when, from where, and "This wasn't me" -------------------------


def _confirm_link(recovery: Recovery) -> str:
    recovery.patient("alice")
    page = recovery.client.get("/forgot-password")
    form = recovery.client.post(
        "/forgot-password",
        data={"csrf_token": csrf_token(page.text), "username": "alice"},
        headers={"User-Agent": CHROME_ON_WINDOWS},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    sent = recovery.client.post(
        "/forgot-password",
        data={
            "csrf_token": csrf_token(form.text),
            "flow": form.text.split('name="flow" value="')[1].split('"')[0],
            "answer": ANSWER,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
        headers={"User-Agent": CHROME_ON_WINDOWS},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert message_ids(sent.text) == ["recovery_reset_sent"]
    [mail] = recovery.mail()
    link = recovery.link(mail)
    assert link.startswith("/reset/confirm?token=")
    return link


def test_confirmation_page_says_when_and_from_where(recovery: Recovery) -> None:
    link = _confirm_link(recovery)
    page = recovery.open_link(link)
    assert page.status_code == 200
    requested = page.text.split("<p data-requested>")[1].split("</p>")[0]
    assert "203.0.113.7" in requested
    assert "Chrome on Windows" in requested
    at = recovery.services.clock().strftime("%Y-%m-%d %H:%M UTC")
    assert at in requested
    assert "This wasn't me" in html.unescape(page.text)


def test_this_wasnt_me_cancels_the_reset_and_tells_the_owner(
    recovery: Recovery, services: Services
) -> None:
    link = _confirm_link(recovery)
    page = recovery.open_link(link)
    token = page.text.split('name="token" value="')[1].split('"')[0]
    cancelled = recovery.client.post(
        "/reset/cancel",
        data={"csrf_token": csrf_token(page.text), "token": token, "decision": "cancel"},
    )
    assert cancelled.status_code == 200
    assert message_ids(cancelled.text) == ["recovery_reset_cancelled"]

    # The pending password is gone: the link no longer confirms it.
    again = recovery.client.post(
        "/reset/confirm", data={"csrf_token": csrf_token(page.text), "token": token}
    )
    assert message_ids(again.text) == ["recovery_link_invalid"]
    assert _signs_in(recovery, "alice", PASSWORD)
    assert not _signs_in(recovery, "alice", NEW_PASSWORD)

    [notice] = recovery.mail()
    assert notice["To"] == "alice@example.test"
    assert notice["Subject"] == "Patient Sign-in: password reset cancelled"
    assert "203.0.113.7" in text_of(notice)
    with services.db.transaction() as uow:
        [event] = [e for e in uow.audit.tail(50) if e.type == "password_reset_cancelled"]
    assert event.outcome == "success"
    assert event.subject == recovery.account("alice").subject
    assert event.details["requested_ip"] == "203.0.113.7"


def test_this_wasnt_me_needs_csrf_and_a_live_link(recovery: Recovery) -> None:
    link = _confirm_link(recovery)
    page = recovery.open_link(link)
    token = page.text.split('name="token" value="')[1].split('"')[0]
    assert recovery.client.post("/reset/cancel", data={"token": token}).status_code == 400
    for bad in ("", "x" * 500, "not a token!", "A" * 43):
        response = recovery.client.post(
            "/reset/cancel", data={"csrf_token": csrf_token(page.text), "token": bad}
        )
        assert response.status_code == 400
        assert message_ids(response.text) == ["recovery_link_invalid"]
    assert recovery.client.get("/reset/cancel").status_code == 405
    assert recovery.mail() == []
    # Nothing was cancelled by the bad requests: the owner can still confirm.
    done = recovery.confirm(link)
    assert message_ids(done.text) == ["recovery_password_changed"]


# --- item 6: a custom question never shows ----------------------------------------------


def test_custom_questions_are_never_shown_and_pages_match_an_unknown_user_id(
    recovery: Recovery, services: Services
) -> None:
    account = recovery.factory.account("alice", dob=DOB)
    _custom_questions_only(recovery, account)
    known = recovery.forgot_password("alice", "x", client=recovery.app.test_client())
    assert CUSTOM_QUESTION not in known[0].text
    assert _question(known[0].text) == (
        decoy_question(services.settings.secret_key, "forgot-password", username_key("alice")).text
    )
    unknown = recovery.forgot_password("nobody", "x", client=recovery.app.test_client())
    # The question differs by user ID for everyone (HMAC); the rest of the page does not.
    assert normalised(known[0])[:2] == normalised(unknown[0])[:2]
    assert normalised(known[-1]) == normalised(unknown[-1])


def test_custom_questions_are_never_shown_in_forgot_user_id(
    recovery: Recovery, services: Services
) -> None:
    email = "alice@example.test"
    account = recovery.factory.account("alice", dob=DOB)
    _custom_questions_only(recovery, account)
    known = recovery.forgot_id(email, DOB.isoformat(), "x", client=recovery.app.test_client())
    wrong_dob = recovery.forgot_id(email, "1981-01-01", "x", client=recovery.app.test_client())
    assert CUSTOM_QUESTION not in known[1].text
    assert (
        _question(known[1].text)
        == decoy_question(
            services.settings.secret_key, "forgot-id", email.casefold(), DOB.isoformat()
        ).text
    )
    for a, b in ((known[0], wrong_dob[0]), (known[-1], wrong_dob[-1])):
        assert normalised(a) == normalised(b)
    # The mailbox is the check for such an account: its user ID still goes there.
    [mail] = recovery.mail()
    assert "User ID: alice" in text_of(mail)


def test_a_mix_of_questions_shows_only_the_curated_ones(recovery: Recovery) -> None:
    account = recovery.factory.account("alice", dob=DOB)
    choices = [
        QuestionChoice(question_id="custom", answer="a", custom_text=CUSTOM_QUESTION),
        QuestionChoice(question_id="first_concert", answer=ANSWER),
    ]
    with recovery.services.db.transaction() as uow:
        uow.security_answers.replace(
            account.id,
            hash_questions(choices, recovery.services.hashing),
            now=recovery.services.clock(),
        )
    for username in ("alice", "alice ", "ALICE"):
        page = recovery.forgot_password(username, client=recovery.app.test_client())[0]
        assert _question(page.text) == "What was the first concert you went to?"
    *_, sent = recovery.forgot_password("alice", ANSWER)
    assert message_ids(sent.text) == ["recovery_reset_sent"]
    [mail] = recovery.mail()
    assert recovery.link(mail).startswith("/reset/confirm?token=")
