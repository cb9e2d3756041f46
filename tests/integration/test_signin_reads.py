"""Database.primary_reader (the authorization endpoint's read of the signed-in account,
issue 12 item 3): the primary, outside any transaction, and never a write."""

from __future__ import annotations

import pytest

from idp.services import Services
from idp.store.sql.repositories import ReadOnlyError

from ..conftest import Factory


def test_the_primary_reader_reads_what_was_committed_and_refuses_writes(
    services: Services, factory: Factory
) -> None:
    factory.account("alice")
    with services.db.primary_reader() as uow:  # type: ignore[attr-defined]
        found = uow.accounts.for_sign_in("alice")
        assert found is not None and found.account.username == "alice"
    with pytest.raises(ReadOnlyError), services.db.primary_reader() as uow:  # type: ignore[attr-defined]
        uow.accounts.add(username="zed", password_hash="h", email=None, now=services.clock())
