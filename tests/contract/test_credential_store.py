"""The credential store's contract on the configured backend (SQLite, or PostgreSQL in CI).

Each use is one conditional UPDATE: these tests hold the repository to "at most once"
with real concurrent transactions, not by reading the code.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest

from idp.store.credentials import CredentialKind, NewPasskey
from idp.store.sql.database import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def _account(db: Database, username: str) -> int:
    with db.transaction() as uow:
        return uow.accounts.add(username=username, password_hash="x", email=None, now=NOW).id


@pytest.fixture
def accounts(clean_database: Database) -> tuple[int, int]:
    return _account(clean_database, "alice"), _account(clean_database, "bob")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _passkey(credential_id: bytes = b"cred-1", *, sign_count: int = 0) -> NewPasskey:
    return NewPasskey(
        credential_id=credential_id,
        public_key=b"\xa5cose-key",
        sign_count=sign_count,
        transports=("internal", "hybrid"),
        aaguid="00000000-0000-0000-0000-000000000000",
        backed_up=True,
        label="Phone",
    )


def test_new_account_has_no_factors(clean_database: Database, accounts: tuple[int, int]) -> None:
    with clean_database.transaction() as uow:
        assert uow.credentials.kinds(accounts[0]) == frozenset()
        assert uow.credentials.listing(accounts[0]) == []
        assert uow.credentials.totp_of(accounts[0]) is None
        assert uow.credentials.recovery_codes_left(accounts[0]) == 0


def test_totp_round_trip_and_replacement(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    with clean_database.transaction() as uow:
        uow.credentials.add_totp(
            alice, secret_ciphertext=b"\x01sealed", label="App", step=100, now=NOW
        )
    with clean_database.transaction() as uow:
        second = uow.credentials.add_totp(
            alice, secret_ciphertext=b"\x01other", label="New app", step=200, now=LATER
        )
    with clean_database.transaction() as uow:
        stored = uow.credentials.totp_of(alice)
        assert stored is not None and stored.id == second.id
        assert stored.secret_ciphertext == b"\x01other"
        assert stored.last_used_step == 200
        assert uow.credentials.kinds(alice) == {CredentialKind.TOTP}
        assert [s.label for s in uow.credentials.listing(alice)] == ["New app"]
        assert uow.credentials.totp_of(bob) is None


def test_totp_step_is_recorded_only_when_later(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    with clean_database.transaction() as uow:
        cred = uow.credentials.add_totp(
            accounts[0], secret_ciphertext=b"s", label="App", step=100, now=NOW
        )
    with clean_database.transaction() as uow:
        assert not uow.credentials.record_totp_step(cred.id, step=100, now=LATER)
        assert not uow.credentials.record_totp_step(cred.id, step=99, now=LATER)
        assert uow.credentials.record_totp_step(cred.id, step=101, now=LATER)
        assert not uow.credentials.record_totp_step(cred.id, step=101, now=LATER)
    with clean_database.transaction() as uow:
        stored = uow.credentials.totp_of(accounts[0])
        assert stored is not None
        assert (stored.last_used_step, stored.last_used_at) == (101, LATER)


def test_recovery_codes_are_single_use_and_per_account(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    with clean_database.transaction() as uow:
        uow.credentials.replace_recovery_codes(alice, [_hash("a"), _hash("b")], now=NOW)
    with clean_database.transaction() as uow:
        assert not uow.credentials.use_recovery_code(bob, _hash("a"), now=LATER)
        assert uow.credentials.use_recovery_code(alice, _hash("a"), now=LATER)
        assert not uow.credentials.use_recovery_code(alice, _hash("a"), now=LATER)
        assert not uow.credentials.use_recovery_code(alice, _hash("zzz"), now=LATER)
        assert uow.credentials.recovery_codes_left(alice) == 1
        assert uow.credentials.kinds(alice) == {CredentialKind.RECOVERY_CODE}
        assert uow.credentials.listing(alice) == []
    with clean_database.transaction() as uow:
        assert uow.credentials.use_recovery_code(alice, _hash("b"), now=LATER)
        # No code left: the account no longer has recovery codes as a factor.
        assert uow.credentials.kinds(alice) == frozenset()


def test_regenerating_recovery_codes_kills_the_old_ones(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice = accounts[0]
    with clean_database.transaction() as uow:
        uow.credentials.replace_recovery_codes(alice, [_hash("old1"), _hash("old2")], now=NOW)
    with clean_database.transaction() as uow:
        uow.credentials.replace_recovery_codes(alice, [_hash("new1")], now=LATER)
    with clean_database.transaction() as uow:
        assert not uow.credentials.use_recovery_code(alice, _hash("old1"), now=LATER)
        assert uow.credentials.recovery_codes_left(alice) == 1
        assert uow.credentials.use_recovery_code(alice, _hash("new1"), now=LATER)


def test_two_concurrent_uses_of_one_recovery_code_win_once(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice = accounts[0]
    for _round in range(3):
        with clean_database.transaction() as uow:
            uow.credentials.replace_recovery_codes(alice, [_hash("shared")], now=NOW)
        barrier = threading.Barrier(2)
        results: list[bool] = []

        def use(barrier: threading.Barrier = barrier, results: list[bool] = results) -> None:
            barrier.wait()
            with clean_database.transaction() as uow:
                results.append(uow.credentials.use_recovery_code(alice, _hash("shared"), now=LATER))

        threads = [threading.Thread(target=use) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) == [False, True]


def test_passkey_round_trip_and_unique_credential_id(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    with clean_database.transaction() as uow:
        row_id = uow.credentials.add_passkey(alice, _passkey(), now=NOW)
        assert row_id is not None
        # The same authenticator credential cannot be registered again, by anyone,
        # and the refusal leaves the caller's transaction usable.
        assert uow.credentials.add_passkey(bob, _passkey(), now=NOW) is None
        assert uow.credentials.add_passkey(alice, _passkey(), now=NOW) is None
        assert uow.credentials.add_passkey(alice, _passkey(b"cred-2"), now=NOW) is not None
    with clean_database.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(b"cred-1")
        assert found is not None
        assert (found.id, found.account_id, found.public_key) == (row_id, alice, b"\xa5cose-key")
        assert found.transports == ("internal", "hybrid") and found.backed_up
        assert not found.clone_suspected
        assert [p.credential_id for p in uow.credentials.passkeys_of(alice)] == [
            b"cred-1",
            b"cred-2",
        ]
        assert uow.credentials.passkeys_of(bob) == []
        assert uow.credentials.passkey_by_credential_id(b"nope") is None
        assert uow.credentials.kinds(alice) == {CredentialKind.WEBAUTHN}


def test_passkey_counter_update_is_conditional(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    with clean_database.transaction() as uow:
        row_id = uow.credentials.add_passkey(accounts[0], _passkey(sign_count=5), now=NOW)
        assert row_id is not None
    with clean_database.transaction() as uow:
        assert uow.credentials.record_passkey_use(
            row_id, seen_count=5, new_count=6, backed_up=False, now=LATER
        )
        # A racing request that read the old counter loses.
        assert not uow.credentials.record_passkey_use(
            row_id, seen_count=5, new_count=6, backed_up=False, now=LATER
        )
    with clean_database.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(b"cred-1")
        assert found is not None
        assert (found.sign_count, found.backed_up, found.last_used_at) == (6, False, LATER)
        uow.credentials.flag_clone(row_id, now=LATER)
    with clean_database.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(b"cred-1")
        assert found is not None and found.clone_suspected
        # A flagged passkey is never updated again.
        assert not uow.credentials.record_passkey_use(
            row_id, seen_count=6, new_count=7, backed_up=False, now=LATER
        )


def test_sign_counts_beyond_signed_32_bits_are_kept(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    with clean_database.transaction() as uow:
        row_id = uow.credentials.add_passkey(accounts[0], _passkey(sign_count=2**32 - 2), now=NOW)
        assert row_id is not None
        assert uow.credentials.record_passkey_use(
            row_id, seen_count=2**32 - 2, new_count=2**32 - 1, backed_up=True, now=LATER
        )
    with clean_database.transaction() as uow:
        found = uow.credentials.passkey_by_credential_id(b"cred-1")
        assert found is not None and found.sign_count == 2**32 - 1


def test_user_handle_is_created_once_and_maps_back(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    with clean_database.transaction() as uow:
        assert uow.credentials.user_handle(alice, new_handle=b"h" * 64, now=NOW) == b"h" * 64
    with clean_database.transaction() as uow:
        # A later call keeps the first handle, whatever new one it offers.
        assert uow.credentials.user_handle(alice, new_handle=b"x" * 64, now=NOW) == b"h" * 64
        assert uow.credentials.user_handle(bob, new_handle=b"b" * 64, now=NOW) == b"b" * 64
        assert uow.credentials.account_for_handle(b"h" * 64) == alice
        assert uow.credentials.account_for_handle(b"b" * 64) == bob
        assert uow.credentials.account_for_handle(b"x" * 64) is None


def test_relabel_and_remove_only_touch_the_owners_factors(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    with clean_database.transaction() as uow:
        row_id = uow.credentials.add_passkey(alice, _passkey(), now=NOW)
        assert row_id is not None
        uow.credentials.replace_recovery_codes(alice, [_hash("a")], now=NOW)
    with clean_database.transaction() as uow:
        assert not uow.credentials.relabel(bob, row_id, "Stolen")
        assert not uow.credentials.remove(bob, row_id)
        assert uow.credentials.relabel(alice, row_id, "Laptop")
        assert [s.label for s in uow.credentials.listing(alice)] == ["Laptop"]
        assert uow.credentials.remove(alice, row_id)
        assert uow.credentials.passkey_by_credential_id(b"cred-1") is None
        assert uow.credentials.kinds(alice) == {CredentialKind.RECOVERY_CODE}


def test_a_rolled_back_transaction_keeps_no_passkey_or_user_handle(
    clean_database: Database, accounts: tuple[int, int]
) -> None:
    """Nothing half-written (invariant 8): both inserts belong to the caller's transaction.

    On SQLite a SAVEPOINT-based insert committed early (pysqlite opens no transaction
    before a SAVEPOINT), and the rows outlived this rollback.
    """
    alice = accounts[0]

    class Abort(Exception):
        pass

    with pytest.raises(Abort), clean_database.transaction() as uow:
        uow.credentials.user_handle(alice, new_handle=b"h" * 64, now=NOW)
        assert uow.credentials.add_passkey(alice, _passkey(), now=NOW) is not None
        raise Abort
    with clean_database.transaction() as uow:
        assert uow.credentials.passkeys_of(alice) == []
        assert uow.credentials.account_for_handle(b"h" * 64) is None
