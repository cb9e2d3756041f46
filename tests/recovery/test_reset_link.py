"""Forgot password the other portals' way (user ID → emailed link → new password), the
only way when security questions are off; and the second-factor step of every reset."""

from __future__ import annotations

import re

import pytest

from idp.flows import forgot_password
from idp.flows.forgot_password import ResetState, after_link_opened
from idp.services import Services
from idp.store.usernames import username_key
from tests.conftest import PASSWORD
from tests.helpers import MovableClock, csrf_token, message_ids
from tests.second_factor import enrol_recovery_codes, enrol_totp, totp_now

from .conftest import ANSWER, NEW_PASSWORD, Recovery, normalised

link_flow = pytest.mark.settings(accounts__reset_flow="link")


def _request_link(recovery: Recovery, username: str = "alice") -> str:
    [sent] = recovery.forgot_password(username)
    assert message_ids(sent.text) == ["recovery_reset_link_sent"], sent.text
    [mail] = recovery.mail()
    assert mail["Subject"] == "Patient Sign-in: reset your password"
    link = recovery.link(mail)
    assert link.startswith("/reset/password?token=")
    return link


def _signs_in(recovery: Recovery, username: str, password: str) -> bool:
    return (
        recovery.sign_in(username, password, client=recovery.app.test_client()).status_code == 303
    )


@link_flow
def test_link_flow_end_to_end(recovery: Recovery, services: Services) -> None:
    account = recovery.patient("alice")
    page = recovery.client.get("/forgot-password")
    assert 'name="answer"' not in page.text and "email you a link" in page.text
    link = _request_link(recovery)
    assert _signs_in(recovery, "alice", PASSWORD)  # nothing changes before the link is used
    form = recovery.open_link(link)
    assert form.status_code == 200 and 'name="password"' in form.text

    done = recovery.choose(link)
    assert done.status_code == 200
    assert message_ids(done.text) == ["recovery_password_changed"]
    assert not _signs_in(recovery, "alice", PASSWORD)
    assert _signs_in(recovery, "alice", NEW_PASSWORD)
    [notice] = recovery.mail()
    assert notice["To"] == account.email and "was reset" in notice["Subject"]


@link_flow
def test_link_flow_checks_the_new_password_against_the_account(recovery: Recovery) -> None:
    recovery.patient("alice", last_name="Montgomery")
    link = _request_link(recovery)
    for password, confirm, reason in [
        ("short", "short", "too_short"),
        ("montgomery and the long road home", None, "contains_context_word"),
    ]:
        refused = recovery.choose(link, password, confirm)
        assert refused.status_code == 400
        assert f'data-reason="{reason}"' in refused.text
    mismatch = recovery.choose(link, NEW_PASSWORD, "another long password here")
    assert message_ids(mismatch.text) == ["recovery_password_mismatch"]
    assert recovery.choose(link).status_code == 200  # refusals did not use the link up


@link_flow
def test_link_flow_links_work_once_expire_and_die_on_a_new_request(
    recovery: Recovery, clock: MovableClock, services: Services
) -> None:
    recovery.patient("alice")
    first = _request_link(recovery)
    second = _request_link(recovery)
    assert recovery.open_link(first).status_code == 400
    assert recovery.choose(second).status_code == 200
    assert message_ids(recovery.open_link(second).text) == ["recovery_link_invalid"]
    recovery.mail()  # the notice

    third = _request_link(recovery)
    clock.advance(services.settings.accounts.reset_link_ttl + 1)
    assert message_ids(recovery.open_link(third).text) == ["recovery_link_invalid"]


@link_flow
def test_link_flow_is_the_same_for_a_known_and_an_unknown_user_id(recovery: Recovery) -> None:
    recovery.patient("alice")
    known = recovery.forgot_password("alice", client=recovery.app.test_client())
    other = recovery.forgot_password("nobody", client=recovery.app.test_client())
    assert normalised(known[0]) == normalised(other[0])
    assert len(recovery.mail()) == 1


@link_flow
def test_link_flow_mail_is_throttled_per_user_id(recovery: Recovery) -> None:
    recovery.patient("alice")
    replies = [recovery.forgot_password("alice")[0] for _ in range(4)]
    mails = recovery.mail()
    assert len(mails) == 3
    assert len({normalised(r) for r in replies}) == 1
    # The throttled request issued nothing, so the last link sent still works.
    assert recovery.choose(recovery.link(mails[-1])).status_code == 200


@link_flow
def test_link_flow_mail_is_throttled_per_client_address(
    recovery: Recovery, services: Services
) -> None:
    from idp.flows.recovery_common import MAIL_PER_IP

    for n in range(MAIL_PER_IP + 1):
        recovery.patient(f"patient{n}", email=f"p{n}@example.test")
    replies = [recovery.forgot_password(f"patient{n}")[0] for n in range(MAIL_PER_IP + 1)]
    assert len(recovery.mail()) == MAIL_PER_IP
    assert len({normalised(r) for r in replies}) == 1


@link_flow
def test_link_flow_works_while_locked_and_ends_the_lock(
    recovery: Recovery, services: Services
) -> None:
    recovery.patient("alice")
    for _ in range(services.settings.lockout.max_failures):
        recovery.sign_in("alice", "not the password")
    assert message_ids(recovery.sign_in("alice", PASSWORD).text) == ["account_locked"]
    # The owner was told about the lock.
    [notice] = recovery.mail()
    assert notice["Subject"] == "Your account was locked for 15 minutes"
    assert recovery.choose(_request_link(recovery)).status_code == 200
    assert _signs_in(recovery, "alice", NEW_PASSWORD)


@pytest.mark.settings(accounts__security_questions=0)
def test_without_security_questions_only_the_link_flow_exists(recovery: Recovery) -> None:
    # reset_flow is still the default "questions": without questions it cannot apply.
    recovery.patient("alice")
    link = _request_link(recovery)
    assert recovery.choose(link).status_code == 200
    assert _signs_in(recovery, "alice", NEW_PASSWORD)


@pytest.mark.settings(accounts__security_questions=0)
def test_without_questions_a_stale_question_step_is_refused(recovery: Recovery) -> None:
    recovery.patient("alice")
    page = recovery.client.get("/forgot-password")
    from tests.helpers import csrf_token

    response = recovery.client.post(
        "/forgot-password",
        data={"csrf_token": csrf_token(page.text), "flow": "A" * 32, "answer": ANSWER},
    )
    assert response.status_code == 400
    assert message_ids(response.text) == ["recovery_flow_expired"]


# --- the second-factor step ----------------------------------------------------------------


def test_only_accounts_with_a_factor_need_one(recovery: Recovery, services: Services) -> None:
    assert forgot_password.second_factor_required(frozenset()) is False
    assert after_link_opened(frozenset()) is ResetState.PASSWORD_IN_EFFECT
    assert after_link_opened({"totp"}) is ResetState.SECOND_FACTOR
    assert after_link_opened({"recovery_code"}) is ResetState.SECOND_FACTOR


def test_transitions_follow_the_diagram() -> None:
    t = forgot_password.TRANSITIONS
    assert t[ResetState.REQUESTED] == {ResetState.LINK_OPENED}
    assert t[ResetState.LINK_OPENED] == {ResetState.SECOND_FACTOR, ResetState.PASSWORD_IN_EFFECT}
    assert t[ResetState.SECOND_FACTOR] == {ResetState.PASSWORD_IN_EFFECT}
    assert not t[ResetState.PASSWORD_IN_EFFECT]


@pytest.mark.parametrize(
    "flow",
    [
        pytest.param(flow, marks=pytest.mark.settings(accounts__reset_flow=flow), id=flow)
        for flow in ("questions", "link")
    ],
)
def test_reset_stops_at_the_second_factor_when_one_is_required(
    recovery: Recovery,
    services: Services,
    flow: str,
) -> None:
    account = recovery.patient("alice")
    secret = enrol_totp(services, account.id)
    codes = enrol_recovery_codes(services, account.id)
    assert after_link_opened(services_kinds(services, account.id)) is ResetState.SECOND_FACTOR

    if flow == "questions":
        recovery.forgot_password("alice", ANSWER)
        [mail] = recovery.mail()
        stopped = recovery.confirm(recovery.link(mail))
    else:
        recovery.forgot_password("alice")
        [mail] = recovery.mail()
        stopped = recovery.choose(recovery.link(mail))
    assert stopped.status_code == 200
    assert message_ids(stopped.text) == ["recovery_second_factor_required"]
    # Stopped before PASSWORD_IN_EFFECT: the old password still works, nothing was sent.
    assert _signs_in(recovery, "alice", PASSWORD)
    assert not _signs_in(recovery, "alice", NEW_PASSWORD)
    assert recovery.mail() == []
    with services.db.transaction() as uow:
        [event] = [e for e in uow.audit.tail(50) if e.type == "password_reset"]
    assert (event.outcome, event.details["reason"]) == ("pending", "second_factor_required")
    # And the link is used up: it cannot be replayed to skip the step.
    assert recovery.open_link(recovery.link(mail)).status_code == 400

    # A wrong code counts toward the lockout and changes nothing.
    pending = re.search(r'name="pending" value="([^"]+)"', stopped.text)
    assert pending, stopped.text
    before = services.attempts.total(username_key("alice"))
    wrong = _second_factor(
        recovery, stopped, "000000" if totp_now(services, secret) != "000000" else "111111"
    )
    assert wrong.status_code == 401
    assert "second_factor_wrong_code" in message_ids(wrong.text)
    assert services.attempts.total(username_key("alice")) == before + 1
    assert _signs_in(recovery, "alice", PASSWORD)

    # The right factor (an app code, or a recovery code) puts the new password into effect.
    code = totp_now(services, secret) if flow == "questions" else codes[0]
    done = _second_factor(recovery, wrong, code)
    assert done.status_code == 200, done.text
    assert message_ids(done.text) == ["recovery_password_changed"]
    assert _signs_in(recovery, "alice", NEW_PASSWORD)
    assert not _signs_in(recovery, "alice", PASSWORD)
    # The held reset is used up.
    assert (
        _second_factor(recovery, wrong, totp_now(services, secret, offset_steps=1)).status_code
        == 400
    )
    with services.db.transaction() as uow:
        # Recovery never removes a factor.
        assert {"totp", "recovery_code"} <= {str(k) for k in uow.credentials.kinds(account.id)}


def _second_factor(recovery: Recovery, page, code: str):
    pending = re.search(r'name="pending" value="([^"]+)"', page.text)
    assert pending, page.text
    return recovery.client.post(
        "/reset/second-factor",
        data={"csrf_token": csrf_token(page.text), "pending": pending.group(1), "code": code},
    )


def services_kinds(services: Services, account_id: int) -> frozenset[str]:
    with services.db.transaction() as uow:
        return frozenset(str(k) for k in uow.credentials.kinds(account_id))


def test_a_forged_or_unknown_pending_reset_is_refused(recovery: Recovery) -> None:
    page = recovery.client.get("/forgot-password")
    for pending in ("", "x" * 32, "../../etc", "é" * 32):
        response = recovery.client.post(
            "/reset/second-factor",
            data={"csrf_token": csrf_token(page.text), "pending": pending, "code": "123456"},
        )
        assert response.status_code == 400
