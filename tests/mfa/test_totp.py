"""Authenticator-app codes: the ±1 step window, replay refusal across processes, bad input."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pyotp
import pytest

from idp.flows.methods.base import NOT_MINE, Failed, FailureReason, Verified
from idp.flows.methods.totp import TotpMethod
from idp.policies.totp import time_step
from idp.store.credentials import CredentialKind
from idp.store.interfaces import EphemeralStore
from idp.store.memory import MemoryEphemeralStore
from idp.store.secret_box import SecretBox, SecretBoxError
from idp.store.sql.database import Database

from .conftest import NOW, facts

SECRET = pyotp.random_base32()


def code_at(when: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(when)


def steps(n: int) -> timedelta:
    return timedelta(seconds=30 * n)


@pytest.fixture
def totp(box: SecretBox, ephemeral: EphemeralStore) -> TotpMethod:
    return TotpMethod(box=box, ephemeral=ephemeral, issuer_name="Patient Sign-in")


def enrol(db: Database, method: TotpMethod, account_id: int, secret: str = SECRET) -> None:
    """Store a confirmed app whose last used step lies well in the past."""
    with db.transaction() as uow:
        uow.credentials.add_totp(
            account_id,
            secret_ciphertext=method.seal_pending(account_id, secret),
            label="Authenticator app",
            step=time_step(NOW) - 10,
            now=NOW,
        )


def submit(
    db: Database, method: TotpMethod, account_id: int, code: str, *, now: datetime = NOW
) -> object:
    with db.transaction() as uow:
        return method.verify(
            facts(db, account_id),
            {"method": "totp", "code": code},
            tx=uow,
            flow_id="flow-1",
            now=now,
        )


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_code_is_accepted_one_step_either_side_and_no_further(
    db: Database, totp: TotpMethod, alice: int, offset: int, accepted: bool
) -> None:
    enrol(db, totp, alice)
    result = submit(db, totp, alice, code_at(NOW + steps(offset)))
    if accepted:
        assert result == Verified("totp", alice, ("otp",), credential=result.credential)  # type: ignore[attr-defined]
    else:
        assert result == Failed("totp", FailureReason.WRONG_CODE)


def test_the_same_code_is_refused_the_second_time(
    db: Database, totp: TotpMethod, alice: int
) -> None:
    enrol(db, totp, alice)
    code = code_at(NOW)
    assert isinstance(submit(db, totp, alice, code), Verified)
    assert submit(db, totp, alice, code) == Failed("totp", FailureReason.REPLAYED)
    # Still refused within the window a minute later, while the code would still match.
    assert submit(db, totp, alice, code, now=NOW + steps(1)) == Failed(
        "totp", FailureReason.REPLAYED
    )


def test_an_earlier_step_is_refused_after_a_later_one(
    db: Database, totp: TotpMethod, alice: int
) -> None:
    enrol(db, totp, alice)
    assert isinstance(submit(db, totp, alice, code_at(NOW + steps(1))), Verified)
    assert submit(db, totp, alice, code_at(NOW)) == Failed("totp", FailureReason.REPLAYED)
    # The next step after the one used is fine.
    assert isinstance(
        submit(db, totp, alice, code_at(NOW + steps(2)), now=NOW + steps(2)), Verified
    )


def test_step_reuse_is_refused_by_another_process_before_the_first_commits(
    db: Database,
    box: SecretBox,
    two_processes: tuple[EphemeralStore, EphemeralStore],
    alice: int,
) -> None:
    """Two provider processes (own Redis connections), the same code at the same moment."""
    first = TotpMethod(box=box, ephemeral=two_processes[0], issuer_name="Patient Sign-in")
    second = TotpMethod(box=box, ephemeral=two_processes[1], issuer_name="Patient Sign-in")
    enrol(db, first, alice)
    code = code_at(NOW)
    account = facts(db, alice)
    form = {"method": "totp", "code": code}
    lost: list[object] = []
    other = threading.Thread(target=lambda: lost.append(submit(db, second, alice, code)))
    with db.transaction() as uow:
        won = first.verify(account, form, tx=uow, flow_id="a", now=NOW)
        # The first transaction is still open and holds the row: only the shared
        # ephemeral marker can answer the second process now. Without it, the second
        # would wait on the row until this commits (the join below would time out).
        other.start()
        other.join(timeout=10)
        answered_while_open = not other.is_alive()
    other.join()
    assert isinstance(won, Verified)
    assert answered_while_open
    assert lost == [Failed("totp", FailureReason.REPLAYED)]


def test_replay_is_refused_after_the_ephemeral_marker_is_gone(
    db: Database, box: SecretBox, alice: int
) -> None:
    """Redis flushed, or the marker expired: the durable last step still refuses it."""
    enrol(db, TotpMethod(box=box, ephemeral=MemoryEphemeralStore(), issuer_name="x"), alice)
    code = code_at(NOW)
    before = TotpMethod(box=box, ephemeral=MemoryEphemeralStore(), issuer_name="x")
    after = TotpMethod(box=box, ephemeral=MemoryEphemeralStore(), issuer_name="x")
    assert isinstance(submit(db, before, alice, code), Verified)
    assert submit(db, after, alice, code) == Failed("totp", FailureReason.REPLAYED)


def test_step_is_per_account(db: Database, totp: TotpMethod, alice: int, bob: int) -> None:
    enrol(db, totp, alice)
    enrol(db, totp, bob)
    assert isinstance(submit(db, totp, alice, code_at(NOW)), Verified)
    assert isinstance(submit(db, totp, bob, code_at(NOW)), Verified)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abcdef",
        "12345",
        "1234567",
        "١٢٣٤٥٦",  # Arabic-Indic digits
        "１２３４５６",  # full-width digits
        "1" * 10_000,
        "12345\x00",
        "12 34 5",
    ],
)
def test_bad_input_fails_without_touching_the_credential(
    db: Database, totp: TotpMethod, alice: int, typed: str
) -> None:
    enrol(db, totp, alice)
    assert submit(db, totp, alice, typed) == Failed("totp", FailureReason.MALFORMED)
    with db.transaction() as uow:
        stored = uow.credentials.totp_of(alice)
        assert stored is not None and stored.last_used_step == time_step(NOW) - 10


@pytest.mark.parametrize("spelling", ["{0} {1}", "{0}-{1}", " {0}{1} ", "{0}\u2009{1}"])
def test_spaces_and_dashes_between_digit_groups_are_ignored(
    db: Database, totp: TotpMethod, alice: int, spelling: str
) -> None:
    enrol(db, totp, alice)
    code = code_at(NOW)
    assert isinstance(submit(db, totp, alice, spelling.format(code[:3], code[3:])), Verified)


def test_other_methods_submissions_are_not_mine(db: Database, totp: TotpMethod, alice: int) -> None:
    enrol(db, totp, alice)
    with db.transaction() as uow:
        result = totp.verify(
            facts(db, alice),
            {"method": "recovery_code", "code": code_at(NOW)},
            tx=uow,
            flow_id="f",
            now=NOW,
        )
    assert result is NOT_MINE


def test_account_without_an_app_fails(db: Database, totp: TotpMethod, alice: int) -> None:
    assert not totp.enrolled(facts(db, alice))
    assert submit(db, totp, alice, code_at(NOW)) == Failed("totp", FailureReason.NOT_ENROLLED)


def test_enrolment_shows_secret_uri_and_svg_qr_code(totp: TotpMethod) -> None:
    enrolment = totp.start_enrolment(account_name="alice")
    assert len(enrolment.secret) == 32  # 160 bits of base32
    parsed = pyotp.parse_uri(enrolment.uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == enrolment.secret and parsed.issuer == "Patient Sign-in"
    assert parsed.name == "alice" and parsed.digits == 6 and parsed.interval == 30
    assert enrolment.qr_svg.startswith("<svg") and enrolment.qr_svg.endswith("</svg>")
    assert "http" not in enrolment.qr_svg.replace("http://www.w3.org", "")
    assert totp.start_enrolment(account_name="alice").secret != enrolment.secret


def test_confirming_enrolment_stores_the_app_and_uses_up_that_code(
    db: Database, totp: TotpMethod, alice: int
) -> None:
    secret = totp.start_enrolment(account_name="alice").secret
    sealed = totp.seal_pending(alice, secret)
    wrong_code = "000000" if code_at(NOW, secret) != "000000" else "111111"
    with db.transaction() as uow:
        wrong = totp.confirm_enrolment(
            facts(db, alice), sealed_secret=sealed, code=wrong_code, tx=uow, now=NOW
        )
    assert wrong == Failed("totp", FailureReason.WRONG_CODE)
    assert facts(db, alice).factors == frozenset()
    code = code_at(NOW, secret)
    with db.transaction() as uow:
        done = totp.confirm_enrolment(
            facts(db, alice), sealed_secret=sealed, code=code, tx=uow, now=NOW
        )
    assert isinstance(done, Verified)
    assert facts(db, alice).factors == {CredentialKind.TOTP}
    assert submit(db, totp, alice, code) == Failed("totp", FailureReason.REPLAYED)
    assert isinstance(submit(db, totp, alice, code_at(NOW + steps(1), secret)), Verified)


def test_stored_secret_is_sealed_and_bound_to_its_account(
    db: Database, totp: TotpMethod, box: SecretBox, alice: int, bob: int
) -> None:
    enrol(db, totp, alice)
    with db.transaction() as uow:
        stored = uow.credentials.totp_of(alice)
    assert stored is not None
    assert SECRET.encode() not in stored.secret_ciphertext
    assert box.open(stored.secret_ciphertext, context=b"totp:%d" % alice) == SECRET.encode()
    with pytest.raises(SecretBoxError):
        box.open(stored.secret_ciphertext, context=b"totp:%d" % bob)
