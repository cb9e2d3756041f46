"""Forgot password, the FAQ's way: user ID → question and new password → confirm by email."""

from __future__ import annotations

from idp.flows.recovery_common import decoy_question
from idp.services import Services
from idp.store.sql.repositories import username_key
from tests.conftest import PASSWORD, Factory
from tests.helpers import MovableClock, OIDCActions, audit_types, form_values, message_ids

from .conftest import ANSWER, NEW_PASSWORD, Recovery, normalised, text_of


def _request(recovery: Recovery, username: str = "alice", answer: str = ANSWER) -> str:
    """Ask for a reset and return the confirmation link from the email."""
    *_, sent = recovery.forgot_password(username, answer)
    assert message_ids(sent.text) == ["recovery_reset_sent"], sent.text
    [mail] = recovery.mail()
    assert mail["Subject"] == "Patient Sign-in: confirm your new password"
    return recovery.link(mail)


def _signs_in(recovery: Recovery, username: str, password: str) -> bool:
    response = recovery.sign_in(username, password, client=recovery.app.test_client())
    return response.status_code == 303


def test_reset_takes_effect_only_when_confirmed_and_ends_everything(
    recovery: Recovery, oidc: OIDCActions, factory: Factory, services: Services
) -> None:
    account = recovery.patient("alice")
    rp = factory.client()
    tokens = oidc.tokens(rp)  # signs in: an SSO session, a refresh and an access token
    session_cookie = oidc.session_cookie()
    assert session_cookie is not None

    question = recovery.forgot_password("alice")[0]
    assert "What was the first concert you went to?" in question.text
    link = _request(recovery)
    assert link.startswith("/reset/confirm?token=")

    # Until the link is confirmed nothing has changed.
    assert _signs_in(recovery, "alice", PASSWORD)
    assert not _signs_in(recovery, "alice", NEW_PASSWORD)
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 200
    tokens = oidc.refresh(rp, oidc.tokens(rp)["refresh_token"]).get_json()

    done = recovery.confirm(link)
    assert done.status_code == 200, done.text
    assert message_ids(done.text) == ["recovery_password_changed"]

    assert not _signs_in(recovery, "alice", PASSWORD)
    assert _signs_in(recovery, "alice", NEW_PASSWORD)
    assert services.sessions.resume(session_cookie, now=services.clock().timestamp()) is None
    assert oidc.refresh(rp, tokens["refresh_token"]).status_code == 400
    assert oidc.userinfo(tokens["access_token"]).status_code == 401
    [notice] = recovery.mail()
    assert notice["To"] == account.email
    assert notice["Subject"] == "Patient Sign-in: your password was reset"
    assert "signed out" in text_of(notice)
    types = audit_types(services)
    assert "password_reset_requested" in types and "password_reset" in types


def test_new_password_is_stored_only_as_a_hash_until_then(
    recovery: Recovery, services: Services
) -> None:
    recovery.patient("alice")
    _request(recovery)
    from sqlalchemy import select

    from idp.store.sql import models

    with services.db.session() as session:
        [row] = session.scalars(select(models.ActionToken)).all()
        outbox = session.scalars(select(models.OutboxMessage)).all()
    assert row.purpose == "reset_password"
    assert row.data is not None and row.data["password_hash"].startswith("$argon2id$")
    assert NEW_PASSWORD not in repr(row.data)
    assert len(row.token_hash) == 64  # SHA-256 hex: the token itself is not stored
    assert all(NEW_PASSWORD not in (m.body_text or "") for m in outbox)
    with services.db.transaction() as uow:
        assert NEW_PASSWORD not in repr(uow.audit.tail(50))


def test_opening_the_link_does_not_use_it(recovery: Recovery) -> None:
    recovery.patient("alice")
    link = _request(recovery)
    for _ in range(3):  # mail scanners fetch links; only the POST counts
        page = recovery.open_link(link)
        assert page.status_code == 200
        assert "Confirm my password" in page.text
    assert _signs_in(recovery, "alice", PASSWORD)
    assert recovery.confirm(link).status_code == 200


def test_a_link_works_once(recovery: Recovery) -> None:
    recovery.patient("alice")
    link = _request(recovery)
    assert recovery.confirm(link).status_code == 200
    page = recovery.open_link(link)
    assert page.status_code == 400
    assert message_ids(page.text) == ["recovery_link_invalid"]
    token = link.split("token=")[1]
    replay = recovery.client.post(
        "/reset/confirm", data={"csrf_token": _csrf(recovery), "token": token}
    )
    assert replay.status_code == 400
    assert message_ids(replay.text) == ["recovery_link_invalid"]


def _csrf(recovery: Recovery) -> str:
    from tests.helpers import csrf_token

    return csrf_token(recovery.client.get("/forgot-password").text)


def test_a_link_expires(recovery: Recovery, clock: MovableClock, services: Services) -> None:
    recovery.patient("alice")
    link = _request(recovery)
    clock.advance(services.settings.accounts.reset_link_ttl + 1)
    page = recovery.open_link(link)
    assert page.status_code == 400
    assert message_ids(page.text) == ["recovery_link_invalid"]
    token = link.split("token=")[1]
    late = recovery.client.post(
        "/reset/confirm", data={"csrf_token": _csrf(recovery), "token": token}
    )
    assert late.status_code == 400
    assert _signs_in(recovery, "alice", PASSWORD)


def test_link_lifetime_follows_the_setting(recovery: Recovery, clock: MovableClock) -> None:
    recovery.patient("alice")
    link = _request(recovery)
    clock.advance(29 * 60)  # the default is 30 minutes
    assert recovery.confirm(link).status_code == 200


def test_a_second_request_kills_the_first_link(recovery: Recovery) -> None:
    recovery.patient("alice")
    first = _request(recovery)
    second = _request(recovery, answer=ANSWER)
    assert recovery.open_link(first).status_code == 400
    assert recovery.confirm(second).status_code == 200


def test_forms_need_a_csrf_token(recovery: Recovery) -> None:
    recovery.patient("alice")
    link = _request(recovery)
    token = link.split("token=")[1]
    response = recovery.client.post("/reset/confirm", data={"token": token})
    assert response.status_code == 400
    assert message_ids(response.text) == ["csrf_failed"]
    assert recovery.confirm(link).status_code == 200  # still usable


def test_wrong_answer_sends_nothing_and_replies_the_same(recovery: Recovery) -> None:
    recovery.patient("alice")
    *_, sent = recovery.forgot_password("alice", "Metallica")
    assert message_ids(sent.text) == ["recovery_reset_sent"]
    assert recovery.mail() == []


def test_new_password_is_checked_by_the_policy(recovery: Recovery) -> None:
    recovery.patient("alice")
    *_, refused = recovery.forgot_password("alice", ANSWER, password="short")
    assert refused.status_code == 400
    assert message_ids(refused.text) == ["recovery_password_refused"]
    assert 'data-reason="too_short"' in refused.text
    *_, mismatch = recovery.forgot_password("alice", ANSWER, confirm="something else entirely")
    assert message_ids(mismatch.text) == ["recovery_password_mismatch"]
    # The flow survives a refusal: the corrected form goes through.
    page = refused
    fixed = recovery.step(
        "/forgot-password",
        page,
        {"answer": ANSWER, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert message_ids(fixed.text) == ["recovery_reset_sent"]
    assert len(recovery.mail()) == 1


def test_password_with_the_patients_name_is_refused_by_email_not_on_the_page(
    recovery: Recovery,
) -> None:
    # Saying "contains your name" on the page would confirm the answer to a stranger
    # who guessed the name; the email offers to choose another password instead.
    recovery.patient("alice", last_name="Montgomery")
    *_, sent = recovery.forgot_password("alice", ANSWER, password="montgomery rules the sky")
    assert message_ids(sent.text) == ["recovery_reset_sent"]
    [mail] = recovery.mail()
    assert "contains your name" in text_of(mail)
    link = recovery.link(mail)
    assert link.startswith("/reset/password?token=")
    page = recovery.open_link(link)
    assert message_ids(page.text) == ["recovery_password_refused_earlier"]
    again = recovery.choose(link, "montgomery rules the sky")
    assert again.status_code == 400 and 'data-reason="contains_context_word"' in again.text
    assert recovery.choose(link).status_code == 200
    assert _signs_in(recovery, "alice", NEW_PASSWORD)


# --- enumeration ---------------------------------------------------------------------------


def test_every_step_is_the_same_for_a_known_and_an_unknown_user_id(
    recovery: Recovery, services: Services
) -> None:
    unknown = "nobody"
    decoy = decoy_question(services.settings.secret_key, "forgot-password", username_key(unknown))
    recovery.patient("alice", questions=[(decoy.question_id, ANSWER)])
    for answer in ("wrong answer", ANSWER):
        known = recovery.forgot_password("alice", answer, client=recovery.app.test_client())
        other = recovery.forgot_password(unknown, answer, client=recovery.app.test_client())
        for a, b in zip(known, other, strict=True):
            assert normalised(a) == normalised(b)
    assert len(recovery.mail()) == 1  # only the right answer for the real account sent mail


def test_a_policy_refusal_is_the_same_for_a_known_and_an_unknown_user_id(
    recovery: Recovery, services: Services
) -> None:
    decoy = decoy_question(services.settings.secret_key, "forgot-password", username_key("bob"))
    recovery.patient("alice", questions=[(decoy.question_id, ANSWER)])
    known = recovery.forgot_password("alice", ANSWER, "short", client=recovery.app.test_client())
    other = recovery.forgot_password("bob", ANSWER, "short", client=recovery.app.test_client())
    assert normalised(known[-1]) == normalised(other[-1])


def test_decoy_question_is_stable_for_an_unknown_user_id(recovery: Recovery) -> None:
    pages = [recovery.forgot_password("nobody")[0].text for _ in range(3)]
    labels = {p.split('<label for="answer">')[1].split("</label>")[0] for p in pages}
    assert len(labels) == 1


# --- lockout -------------------------------------------------------------------------------


def test_wrong_answers_lock_sign_in_after_the_limit(recovery: Recovery, services: Services) -> None:
    recovery.patient("alice")
    for _ in range(services.settings.lockout.max_failures):
        *_, sent = recovery.forgot_password("alice", "wrong")
        assert message_ids(sent.text) == ["recovery_reset_sent"]
    login = recovery.sign_in("alice", PASSWORD)
    assert login.status_code == 401
    assert message_ids(login.text) == ["account_locked"]
    # The questions are closed: even the right answer is no longer checked, and the
    # request goes on as the emailed-link flow (the same reply for an unknown user ID).
    *_, closed = recovery.forgot_password("alice", ANSWER)
    assert closed.status_code == 200
    assert message_ids(closed.text) == ["recovery_reset_link_sent"]
    with services.db.transaction() as uow:
        requests = [e for e in uow.audit.tail(20) if e.type == "password_reset_requested"]
    assert requests[-1].details["flow"] == "questions_closed"
    # The owner's lock notice, then a link to choose a password (no confirmation of
    # the password typed with the answer: that answer was never checked).
    notice, link = recovery.mail()
    assert notice["Subject"] == "Your account was locked for 15 minutes"
    assert "confirm" not in link["Subject"]
    assert recovery.choose(recovery.link(link)).status_code == 200


def test_an_unknown_user_id_locks_exactly_like_a_known_one(
    recovery: Recovery, services: Services
) -> None:
    unknown = "nobody"
    decoy = decoy_question(services.settings.secret_key, "forgot-password", username_key(unknown))
    recovery.patient("alice", questions=[(decoy.question_id, ANSWER)])
    known, other = [], []
    for _ in range(services.settings.lockout.max_failures + 1):
        known.append(recovery.forgot_password("alice", "x", client=recovery.app.test_client())[-1])
        other.append(recovery.forgot_password(unknown, "x", client=recovery.app.test_client())[-1])
    assert [normalised(r) for r in known] == [normalised(r) for r in other]
    assert message_ids(known[-1].text) == ["recovery_reset_link_sent"]


def test_a_right_answer_does_not_reopen_the_form_early(
    recovery: Recovery, services: Services
) -> None:
    # Every verification counts on the form's own gate, so "4 wrong then right" closes
    # it exactly as "5 wrong" does: the gate never confirms a right answer.
    recovery.patient("alice")
    limit = services.settings.lockout.max_failures
    for _ in range(limit - 1):
        recovery.forgot_password("alice", "wrong")
    recovery.forgot_password("alice", ANSWER)
    *_, after = recovery.forgot_password("alice", ANSWER)
    assert message_ids(after.text) == ["recovery_reset_link_sent"]


def test_the_owner_gets_back_in_while_a_stranger_hammers_the_account(
    recovery: Recovery, services: Services
) -> None:
    """Invariant 12: a stranger's guesses (answers and passwords) never close the owner's
    way back in; the owner, from another browser, still gets a working link by email."""
    recovery.patient("alice")
    stranger = recovery.app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    for i in range(3 * services.settings.lockout.max_failures):
        recovery.forgot_password("alice", f"guess {i}", client=stranger)
    for i in range(services.settings.lockout.max_failures):
        recovery.sign_in("alice", f"guess {i}", client=stranger)
    assert message_ids(recovery.sign_in("alice", PASSWORD, client=stranger).text) == [
        "account_locked"
    ]

    *_, reply = recovery.forgot_password("alice", ANSWER)
    assert reply.status_code == 200
    assert message_ids(reply.text) == ["recovery_reset_link_sent"]
    # The newest link in the owner's mailbox works (each request kills the previous one,
    # and the stranger's requests count on the same hourly mail quota).
    *_, newest = [m for m in recovery.mail() if "password" in m["Subject"].casefold()]
    done = recovery.choose(recovery.link(newest))
    assert message_ids(done.text) == ["recovery_password_changed"]
    assert _signs_in(recovery, "alice", NEW_PASSWORD)


def test_reset_works_while_sign_in_is_locked_and_ends_the_lock(
    recovery: Recovery, services: Services
) -> None:
    recovery.patient("alice")
    for _ in range(services.settings.lockout.max_failures):
        recovery.sign_in("alice", "not the password")
    assert message_ids(recovery.sign_in("alice", PASSWORD).text) == ["account_locked"]
    # The owner was told about the lock.
    [notice] = recovery.mail()
    assert notice["Subject"] == "Your account was locked for 15 minutes"

    link = _request(recovery)
    assert recovery.confirm(link).status_code == 200
    assert _signs_in(recovery, "alice", NEW_PASSWORD)


def test_a_hard_locked_account_may_reset_and_becomes_active(recovery: Recovery) -> None:
    recovery.patient("alice", status="locked")
    assert message_ids(recovery.sign_in("alice", PASSWORD).text) == ["account_locked"]
    link = _request(recovery)
    assert recovery.confirm(link).status_code == 200
    assert recovery.account("alice").status == "active"
    assert _signs_in(recovery, "alice", NEW_PASSWORD)


def test_accounts_that_cannot_recover_get_no_mail(recovery: Recovery) -> None:
    recovery.patient("pending", email_verified=False)
    recovery.patient("gone", status="closed")
    recovery.patient("off", status="disabled")
    for username in ("pending", "gone", "off"):
        *_, sent = recovery.forgot_password(username, ANSWER)
        assert message_ids(sent.text) == ["recovery_reset_sent"]
    assert recovery.mail() == []


# --- mail bombing --------------------------------------------------------------------------


def test_requests_are_throttled_per_user_id_with_the_same_reply(recovery: Recovery) -> None:
    recovery.patient("alice")
    replies = [recovery.forgot_password("alice", ANSWER)[-1] for _ in range(4)]
    mails = recovery.mail()
    assert len(mails) == 3  # the fourth sent nothing...
    assert len({normalised(r) for r in replies}) == 1  # ...and said the same
    # ...and did not kill the third link.
    assert recovery.confirm(recovery.link(mails[-1])).status_code == 200


def test_a_refused_user_id_stays_in_the_form(recovery: Recovery) -> None:
    """Issue 14, item 6: the user ID typed stays; a refused answer step shows neither the
    answer nor the passwords again (they prove who the patient is)."""
    [refused] = recovery.forgot_password("x" * 65)
    assert refused.status_code == 400 and "recovery_username_invalid" in message_ids(refused.text)
    assert form_values(refused.text) == {"username": "x" * 65}
