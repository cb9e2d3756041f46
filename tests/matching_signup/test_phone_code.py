"""The texted code: 6 digits, 10 minutes, single use, 5 tries, every failure counted.

NIST SP 800-63A-4 §3.1.8 (standards.md row 18); security invariants 5 and 6.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError

from idp.flows.registration import (
    CODE_TTL,
    MAX_CODE_TRIES,
    MAX_CODES_PER_FLOW,
    PHONE_LOCK_PREFIX,
    SMS_NUMBER_LIMIT,
)
from idp.services import Services

from ..helpers import MovableClock, message_ids
from ..signup.conftest import proven_phone
from .conftest import PHONE, PHONE_TYPED, MatchingActions, audit_events, code_in

REASON = 'data-reason="{}"'


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _started(signup: MatchingActions) -> str:
    return signup.phone_step(signup.sign_up())


def test_code_is_six_digits_texted_to_the_normalised_number(
    signup: MatchingActions, services: Services
) -> None:
    flow_id = _started(signup)
    sent = signup.send_code(flow_id, " (617) 555-0123 ")
    assert sent.status_code == 200
    assert PHONE in sent.text
    [text] = signup.texts()
    assert text["to"] == PHONE
    code = code_in(text)
    assert len(code) == 6 and code.isdigit()
    # Stored only as an HMAC: neither the code nor the number in the ephemeral record.
    raw = services.ephemeral.get(f"signup_phone:{flow_id}")
    assert raw is not None and code not in raw
    assert json.loads(raw)["code"]["hash"] != code
    # Typed with spaces or a dash, it still counts.
    confirmed = signup.confirm_code(flow_id, f"{code[:3]} {code[3:]}")
    assert message_ids(confirmed.text) == ["signup_phone_done"]


def test_an_invalid_number_is_refused_on_the_same_page(signup: MatchingActions) -> None:
    flow_id = _started(signup)
    for bad in ("", "12", "not a number", "+1 617 555 0123 ext. 4"):
        refused = signup.send_code(flow_id, bad)
        assert refused.status_code == 400, bad
        assert REASON.format("phone_invalid") in refused.text
        assert f'value="{flow_id}"' in refused.text  # the same step goes on
    assert signup.texts() == []


def test_code_expires_after_ten_minutes(
    signup: MatchingActions, services: Services, clock: MovableClock
) -> None:
    flow_id = _started(signup)
    signup.send_code(flow_id)
    code = signup.code()
    clock.advance(CODE_TTL + 1)
    late = signup.confirm_code(flow_id, code)
    assert late.status_code == 400 and REASON.format("code_expired") in late.text
    assert proven_phone(services) is None
    # A new code works.
    signup.send_code(flow_id)
    assert message_ids(signup.confirm_code(flow_id, signup.code()).text) == ["signup_phone_done"]
    assert proven_phone(services) == PHONE


def test_code_works_once(signup: MatchingActions) -> None:
    flow_id = _started(signup)
    signup.send_code(flow_id)
    code = signup.code()
    assert message_ids(signup.confirm_code(flow_id, code).text) == ["signup_phone_done"]
    again = signup.confirm_code(flow_id, code)
    assert again.status_code == 400
    assert message_ids(again.text) == ["signup_flow_expired"]


def test_a_new_code_replaces_the_old_one(signup: MatchingActions) -> None:
    flow_id = _started(signup)
    signup.send_code(flow_id)
    first = signup.code()
    signup.send_code(flow_id)
    second = signup.code()
    if first != second:
        refused = signup.confirm_code(flow_id, first)
        assert REASON.format("code_invalid") in refused.text
    assert message_ids(signup.confirm_code(flow_id, second).text) == ["signup_phone_done"]


def test_five_wrong_tries_lock_the_code_and_the_number(
    signup: MatchingActions, services: Services
) -> None:
    flow_id = _started(signup)
    signup.send_code(flow_id)
    code = signup.code()
    replies = [signup.confirm_code(flow_id, _wrong(code)) for _ in range(MAX_CODE_TRIES)]
    assert all(r.status_code == 400 for r in replies)
    assert [REASON.format("code_invalid") in r.text for r in replies] == [True] * 4 + [False]
    assert REASON.format("code_locked") in replies[-1].text
    # Locked: even the right code is refused now, unchecked.
    late = signup.confirm_code(flow_id, code)
    assert REASON.format("code_locked") in late.text
    assert proven_phone(services) is None
    # Every failure went through the credential lockout, keyed by the number.
    assert services.attempts.locked_for(PHONE_LOCK_PREFIX + PHONE) is not None
    failures = [e for e in audit_events(services) if e.details["step"] == "phone_code"]
    assert [e.details["reason"] for e in failures] == ["code_invalid"] * 5 + ["locked"]


def test_the_lock_holds_across_sign_ups_for_that_number(
    signup: MatchingActions, services: Services
) -> None:
    first = _started(signup)
    signup.send_code(first)
    code = signup.code()
    for _ in range(MAX_CODE_TRIES):
        signup.confirm_code(first, _wrong(code))
    # Another sign-up, same number: no text goes out while locked, and the page is the same.
    other = signup.phone_step(signup.sign_up({"email": "g2@example.test"}, username="ghopper2"))
    sent = signup.send_code(other)
    assert sent.status_code == 200 and message_ids(sent.text) == ["signup_phone_code_sent"]
    assert signup.texts() == []
    refused = signup.confirm_code(other, "123456")
    assert REASON.format("code_locked") in refused.text
    # Staff unlock (or the lock's end) frees the number.
    services.attempts.unlock(PHONE_LOCK_PREFIX + PHONE)
    signup.send_code(other)
    assert message_ids(signup.confirm_code(other, signup.code()).text) == ["signup_phone_done"]


def test_a_right_code_after_wrong_ones_clears_the_count(
    signup: MatchingActions, services: Services
) -> None:
    flow_id = _started(signup)
    signup.send_code(flow_id)
    code = signup.code()
    for _ in range(MAX_CODE_TRIES - 1):
        signup.confirm_code(flow_id, _wrong(code))
    assert message_ids(signup.confirm_code(flow_id, code).text) == ["signup_phone_done"]
    assert services.attempts.locked_for(PHONE_LOCK_PREFIX + PHONE) is None


def test_texts_are_limited_per_sign_up_with_the_same_page(signup: MatchingActions) -> None:
    flow_id = _started(signup)
    pages = [signup.send_code(flow_id) for _ in range(MAX_CODES_PER_FLOW + 1)]
    assert len(signup.texts()) == MAX_CODES_PER_FLOW
    assert len({(p.status_code, p.text.split("csrf_token")[0]) for p in pages}) == 1


def test_texts_are_limited_per_number(signup: MatchingActions) -> None:
    for n in range(SMS_NUMBER_LIMIT + 1):
        flow_id = signup.phone_step(
            signup.sign_up(
                {"email": f"user{n}@example.test", "first_name": f"A{n}"}, username=f"user{n}"
            )
        )
        sent = signup.send_code(flow_id)
        assert message_ids(sent.text) == ["signup_phone_code_sent"]
    assert len(signup.texts()) == SMS_NUMBER_LIMIT


def test_phone_pages_need_a_live_step(signup: MatchingActions) -> None:
    for path, data in (
        ("/signup/phone", {"phone": PHONE_TYPED}),
        ("/signup/phone/confirm", {"code": "123456"}),
    ):
        for flow_id in ("", "x" * 43, "not a flow"):
            response = signup.client.post(
                path, data={**data, "f": flow_id, "csrf_token": signup._csrf()}
            )
            assert response.status_code == 400
            assert message_ids(response.text) == ["signup_flow_expired"]
        assert signup.client.get(path).status_code == 303


def test_confirm_before_any_code_goes_back_to_the_offer(signup: MatchingActions) -> None:
    flow_id = _started(signup)
    response = signup.confirm_code(flow_id, "123456")
    assert response.status_code == 200
    assert "signup_phone_offer" in message_ids(response.text)


def test_a_try_cut_short_by_an_outage_is_not_counted(
    signup: MatchingActions, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8, item 3: only a wrong code counts, never a request the database failed.

    The wrong code's failure is recorded in a transaction; when that transaction
    cannot open (the database is down), the reserved slot must be freed, not left
    counted until the in-flight period ends.
    """
    flow_id = _started(signup)
    signup.send_code(flow_id)
    code = signup.code()
    real = services.db.transaction

    def down() -> object:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(services.db, "transaction", down)
    assert signup.confirm_code(flow_id, _wrong(code)).status_code >= 500
    monkeypatch.setattr(services.db, "transaction", real)
    slot = services.attempts.reserve(PHONE_LOCK_PREFIX + PHONE)
    assert slot is not None and slot.number == 1  # nothing held by the failed request
    services.attempts.release(slot)
    assert message_ids(signup.confirm_code(flow_id, code).text) == ["signup_phone_done"]
