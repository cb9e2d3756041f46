"""How a password sign-in reads its account (issue 12 item 3): on the primary outside
any transaction, so that no pooled connection waits through the argon2 hash, for a
right password, a wrong one and an unknown user ID alike (invariant 4)."""

from __future__ import annotations

from typing import Any

import pytest

from idp.services import Services
from idp.store.sql.repositories import ReadOnlyError

from ..conftest import Factory
from ..helpers import OIDCActions


@pytest.mark.parametrize(
    ("username", "password", "status"),
    [("alice", None, 303), ("alice", "not the password", 401), ("nobody", "whatever", 401)],
    ids=["right", "wrong", "unknown"],
)
def test_no_connection_is_held_while_the_password_hash_runs(
    services: Services,
    factory: Factory,
    oidc: OIDCActions,
    monkeypatch: pytest.MonkeyPatch,
    username: str,
    password: str | None,
    status: int,
) -> None:
    factory.account("alice")
    pool = services.db.engine.pool  # type: ignore[attr-defined]
    held: list[int] = []
    hashing = services.hashing
    for name in ("verify", "verify_decoy"):
        original = getattr(hashing, name)

        def spy(*args: Any, _original: Any = original) -> Any:
            held.append(pool.checkedout())
            return _original(*args)

        monkeypatch.setattr(hashing, name, spy)
    response = oidc.login("/login", username=username, password=password)
    assert response.status_code == status, response.text
    assert held == [0]


def test_the_primary_reader_refuses_writes(services: Services) -> None:
    with pytest.raises(ReadOnlyError), services.db.primary_reader() as uow:  # type: ignore[attr-defined]
        uow.accounts.add(username="zed", password_hash="h", email=None, now=services.clock())
