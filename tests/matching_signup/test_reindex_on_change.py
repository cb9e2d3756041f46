"""A changed email or phone keeps the candidate index current (issue 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from idp.policies.matching import Demographics
from idp.services import Services
from idp.store.candidates import index_person, reindex_account
from idp.store.sql.repositories import NewPerson


def test_reindex_account_follows_the_new_email(services: Services) -> None:
    secret = services.settings.secret_key
    now = datetime.now(UTC)
    person = NewPerson(
        "Ada", "Lovelace", date(1985, 12, 10), "02139", "female", email="ada@old.example"
    )
    with services.db.transaction() as uow:
        account = uow.accounts.add(
            username="ada",
            password_hash=services.hashing.hash("x" * 20),
            email="ada@old.example",
            now=now,
            person=person,
        )
        index_person(uow, account.person.id, person, secret, fresh=True)
        uow.accounts.set_email(account.id, "ada@new.example", verified=True, now=now)
        reindex_account(uow, account.id, secret)
    # Nothing in common but the email: only the email key can find the account.
    probe = Demographics("Zed", "Other", date(1960, 1, 1), "94110", email="ada@new.example")
    stale = Demographics("Zed", "Other", date(1960, 1, 1), "94110", email="ada@old.example")
    with services.db.transaction() as uow:
        assert [c.account_id for c in uow.candidates.candidates(probe, secret=secret)] == [
            account.id
        ]
        assert uow.candidates.candidates(stale, secret=secret) == []
