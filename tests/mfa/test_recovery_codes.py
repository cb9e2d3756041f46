"""Recovery codes: ten 80-bit codes, shown once, hashed, single use, regenerated on demand."""

from __future__ import annotations

import math
import threading

import pytest

from idp.flows.methods.base import NOT_MINE, AccountFacts, Failed, FailureReason, Verified
from idp.flows.methods.recovery_codes import RecoveryCodeMethod
from idp.policies.recovery_codes import ALPHABET, recovery_code_hash
from idp.store.credentials import CredentialKind
from idp.store.sql import models as m
from idp.store.sql.database import Database

from .conftest import NOW, facts

METHOD = RecoveryCodeMethod()


def issue(db: Database, account_id: int) -> tuple[str, ...]:
    with db.transaction() as uow:
        return METHOD.issue(account_id, tx=uow, now=NOW)


def submit(db: Database, account_id: int, code: str) -> object:
    with db.transaction() as uow:
        return METHOD.verify(
            facts(db, account_id),
            {"method": "recovery_code", "code": code},
            tx=uow,
            flow_id="f",
            now=NOW,
        )


def test_ten_distinct_codes_of_at_least_64_bits(db: Database, alice: int) -> None:
    codes = issue(db, alice)
    assert len(codes) == len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4]
        assert set("".join(groups)) <= set(ALPHABET)
        assert len("".join(groups)) * math.log2(len(ALPHABET)) >= 64
    assert METHOD.enrolled(facts(db, alice))


def test_only_hashes_are_stored(db: Database, alice: int) -> None:
    codes = issue(db, alice)
    with db.session() as session:
        stored = {row.code_hash for row in session.query(m.Credential).filter_by(account_id=alice)}
    assert stored == {recovery_code_hash(code.replace("-", "")) for code in codes}


def test_each_code_works_once(db: Database, alice: int) -> None:
    codes = issue(db, alice)
    assert isinstance(submit(db, alice, codes[0]), Verified)
    assert submit(db, alice, codes[0]) == Failed("recovery_code", FailureReason.WRONG_CODE)
    assert isinstance(submit(db, alice, codes[1]), Verified)
    with db.transaction() as uow:
        assert uow.credentials.recovery_codes_left(alice) == 8


def test_a_code_of_another_account_fails(db: Database, alice: int, bob: int) -> None:
    codes = issue(db, alice)
    issue(db, bob)
    assert submit(db, bob, codes[0]) == Failed("recovery_code", FailureReason.WRONG_CODE)
    assert isinstance(submit(db, alice, codes[0]), Verified)


def test_regenerating_invalidates_every_old_code(db: Database, alice: int) -> None:
    old = issue(db, alice)
    assert isinstance(submit(db, alice, old[0]), Verified)
    new = issue(db, alice)
    assert not set(old) & set(new)
    for code in old:
        assert submit(db, alice, code) == Failed("recovery_code", FailureReason.WRONG_CODE)
    assert isinstance(submit(db, alice, new[0]), Verified)
    with db.transaction() as uow:
        assert uow.credentials.recovery_codes_left(alice) == 9


@pytest.mark.parametrize(
    "spell",
    [
        lambda c: c.lower(),
        lambda c: c.replace("-", ""),
        lambda c: c.replace("-", " "),
        lambda c: f"  {c.lower().replace('-', '')}  ",
        lambda c: c.replace("1", "l").replace("0", "O"),
    ],
)
def test_case_spaces_dashes_and_lookalikes_are_forgiven(
    db: Database, alice: int, spell: object
) -> None:
    codes = issue(db, alice)
    assert isinstance(submit(db, alice, spell(codes[0])), Verified)  # type: ignore[operator]


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFGH", "U" * 16, "A" * 17, "Ａ" * 16, "A" * 100_000, "ABCD\x00EFGH"]
)
def test_bad_input_fails_and_uses_nothing(db: Database, alice: int, typed: str) -> None:
    issue(db, alice)
    assert submit(db, alice, typed) == Failed("recovery_code", FailureReason.MALFORMED)
    with db.transaction() as uow:
        assert uow.credentials.recovery_codes_left(alice) == 10


def test_other_methods_submissions_are_not_mine(db: Database, alice: int) -> None:
    codes = issue(db, alice)
    with db.transaction() as uow:
        result = METHOD.verify(
            facts(db, alice), {"method": "totp", "code": codes[0]}, tx=uow, flow_id="f", now=NOW
        )
    assert result is NOT_MINE


def race(db: Database, account: AccountFacts, code: str) -> list[object]:
    """Two threads submit ``code`` at the same moment, each in its own transaction."""
    barrier = threading.Barrier(2)
    results: list[object] = []

    def use() -> None:
        barrier.wait()
        with db.transaction() as uow:
            form = {"method": "recovery_code", "code": code}
            results.append(METHOD.verify(account, form, tx=uow, flow_id="f", now=NOW))

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_two_threads_using_the_same_code_succeed_once(db: Database, alice: int) -> None:
    for _round in range(3):
        code = issue(db, alice)[0]
        account = facts(db, alice)
        assert account.factors == {CredentialKind.RECOVERY_CODE}
        results = race(db, account, code)
        assert sorted(type(r).__name__ for r in results) == ["Failed", "Verified"]
