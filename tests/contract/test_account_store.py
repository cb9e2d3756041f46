"""The AccountStore Protocol (idp.store.accounts) the flows use, held to its contract on
the configured backend (SQLite, or PostgreSQL with IDP_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from idp.store.accounts import AccountStore, DuplicateError, NewPerson
from idp.store.durable import Database as Transactions
from idp.store.sql.database import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def _same_time(a: datetime, b: datetime) -> bool:
    # SQLite hands back naive datetimes; PostgreSQL aware ones.
    return a.replace(tzinfo=None) == b.replace(tzinfo=None)


def _add(store: AccountStore, username: str, *, status: str = "active") -> int:
    return store.add(username=username, password_hash="h", email=None, now=NOW, status=status).id


def test_add_keeps_what_it_was_given_and_finds_it_three_ways(clean_database: Database) -> None:
    db: Transactions = clean_database
    with db.transaction() as uow:
        store: AccountStore = uow.accounts
        made = store.add(
            username="  Dana.K ",
            password_hash="h1",
            email="dana@example.test",
            now=NOW,
            person=NewPerson(first_name="Dana", last_name="K", dob=date(1990, 5, 17), zip="02139"),
            phone="+16175550100",
            must_change_password=True,
            status="pending",
        )
    with db.transaction() as uow:
        store = uow.accounts
        found = store.by_id(made.id)
        assert found is not None
        assert found == store.by_username("dana.k") == store.by_subject(made.subject)
        assert found.username == "Dana.K"
        assert (found.status, found.must_change_password, found.email_verified) == (
            "pending",
            True,
            False,
        )
        assert found.person is not None
        assert (found.person.first_name, found.person.dob) == ("Dana", date(1990, 5, 17))
        assert store.by_username("dana") is None
        assert store.by_subject("no-such-subject") is None
        assert store.by_id(made.id + 1000) is None


def test_a_taken_user_id_is_refused_whatever_its_case(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        _add(uow.accounts, "erin")
    with pytest.raises(DuplicateError), clean_database.transaction() as uow:
        _add(uow.accounts, " ERIN ")
    with clean_database.transaction() as uow:
        assert [a.username for a in uow.accounts.by_email("x@example.test")] == []
        assert uow.accounts.by_username("erin") is not None


def test_by_email_ignores_case_and_closed_accounts(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        store: AccountStore = uow.accounts
        first = store.add(username="f1", password_hash="h", email="Fay@Example.test", now=NOW)
        second = store.add(username="f2", password_hash="h", email="fay@example.test", now=NOW)
        store.add(username="g", password_hash="h", email="gil@example.test", now=NOW)
        store.close(second.id, now=LATER)
    with clean_database.transaction() as uow:
        assert [a.id for a in uow.accounts.by_email(" FAY@example.TEST ")] == [first.id]
        closed = uow.accounts.by_id(second.id)
        assert closed is not None and closed.status == "closed"


def test_activate_moves_a_pending_account_once(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        pending = _add(uow.accounts, "hal", status="pending")
        active = _add(uow.accounts, "ida")
    with clean_database.transaction() as uow:
        store: AccountStore = uow.accounts
        assert store.activate(pending, now=LATER) is True
        assert store.activate(pending, now=LATER) is False
        assert store.activate(active, now=LATER) is False
        account = store.by_id(pending)
        assert account is not None
        assert (account.status, account.email_verified) == ("active", True)


def test_a_new_password_is_dated_and_a_rehash_is_not(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        made = _add(uow.accounts, "jo")
    with clean_database.transaction() as uow:
        uow.accounts.replace_password_hash(made, "rehashed", now=LATER)
    with clean_database.transaction() as uow:
        account = uow.accounts.by_id(made)
        assert account is not None and account.password_hash == "rehashed"
        assert _same_time(account.password_changed_at, NOW)
        uow.accounts.set_password(made, "new", now=LATER, must_change=True)
    with clean_database.transaction() as uow:
        account = uow.accounts.by_id(made)
        assert account is not None
        assert (account.password_hash, account.must_change_password) == ("new", True)
        assert _same_time(account.password_changed_at, LATER)


def test_contact_details_status_and_terms(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        made = _add(uow.accounts, "kim")
    with clean_database.transaction() as uow:
        store: AccountStore = uow.accounts
        store.set_email(made, "kim@example.test", verified=True, now=LATER)
        store.set_phone(made, "+16175550123", verified=False, now=LATER)
        store.set_status(made, "locked", now=LATER)
        store.accept_terms(made, now=LATER)
    with clean_database.transaction() as uow:
        account = uow.accounts.by_id(made)
        assert account is not None
        assert (account.email, account.email_verified) == ("kim@example.test", True)
        assert (account.phone, account.phone_verified) == ("+16175550123", False)
        assert account.status == "locked"


def test_a_failed_transaction_leaves_no_account_and_no_change(clean_database: Database) -> None:
    with clean_database.transaction() as uow:
        made = _add(uow.accounts, "lee")
    with pytest.raises(RuntimeError), clean_database.transaction() as uow:
        _add(uow.accounts, "max")
        uow.accounts.set_status(made, "closed", now=LATER)
        raise RuntimeError("the request failed")
    with clean_database.transaction() as uow:
        assert uow.accounts.by_username("max") is None
        account = uow.accounts.by_id(made)
        assert account is not None and account.status == "active"


def test_for_sign_in_reads_factors_and_staff_as_the_separate_reads_do(
    clean_database: Database,
) -> None:
    """The password sign-in's one statement (issue 12 item 3) answers what
    ``credentials.kinds`` and ``staff.is_staff`` answer, at every stage."""
    from idp.store.credentials import CredentialKind, NewPasskey

    db = clean_database
    with db.transaction() as uow:
        account_id = _add(uow.accounts, "Fay.Q")

    def read() -> tuple[frozenset[CredentialKind], bool]:
        with db.transaction() as uow:
            found = uow.accounts.for_sign_in("  fay.q ")
            assert found is not None
            assert found.account == uow.accounts.by_username("fay.q")
            assert found.factors == uow.credentials.kinds(account_id)
            assert found.staff == uow.staff.is_staff(account_id)
            with_staff = uow.accounts.with_staff_flag(account_id)
            assert with_staff == (found.account, found.staff)
            return found.factors, found.staff

    assert read() == (frozenset(), False)
    with db.transaction() as uow:
        uow.credentials.replace_recovery_codes(account_id, ["c1", "c2"], now=NOW)
    assert read() == (frozenset({CredentialKind.RECOVERY_CODE}), False)
    with db.transaction() as uow:
        assert uow.credentials.use_recovery_code(account_id, "c1", now=LATER)
    assert read() == (frozenset({CredentialKind.RECOVERY_CODE}), False)
    with db.transaction() as uow:
        # Every code used: recovery codes no longer count as a factor.
        assert uow.credentials.use_recovery_code(account_id, "c2", now=LATER)
        uow.credentials.add_totp(account_id, secret_ciphertext=b"s", label="phone", step=0, now=NOW)
        uow.credentials.add_passkey(
            account_id,
            NewPasskey(
                credential_id=b"cred",
                public_key=b"\xa5key",
                sign_count=0,
                transports=("internal",),
                aaguid="00000000-0000-0000-0000-000000000000",
                label="laptop",
                backed_up=False,
            ),
            now=NOW,
        )
        uow.staff.put(account_id, role="support", portal_ids=[], by="test", now=NOW)
    assert read() == (frozenset({CredentialKind.TOTP, CredentialKind.WEBAUTHN}), True)
    with db.transaction() as uow:
        assert uow.accounts.for_sign_in("nobody") is None
        assert uow.accounts.with_staff_flag(account_id + 1000) is None
