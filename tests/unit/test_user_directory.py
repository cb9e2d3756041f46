"""The per-process UserInfo cache (idp/oidc/user_directory.py): used only while the
user-data version it was loaded under is the one the request read."""

from __future__ import annotations

from datetime import UTC, datetime

from idp.oidc.user_directory import UserDirectory
from idp.records import AccountRecord


def _account(email: str) -> AccountRecord:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return AccountRecord(
        id=7,
        subject="s",
        username="alice",
        password_hash="x",
        email=email,
        email_verified=True,
        phone=None,
        phone_verified=False,
        status="active",
        must_change_password=False,
        person=None,
        created_at=now,
        password_changed_at=now,
    )


class Loads:
    def __init__(self) -> None:
        self.email = "a@example.test"
        self.count = 0

    def __call__(self, _account_id: int) -> AccountRecord:
        self.count += 1
        return _account(self.email)


def _directory(now: list[float], **kwargs: float) -> UserDirectory:
    return UserDirectory(monotonic=lambda: now[0], settle=kwargs.pop("settle", 0.0), **kwargs)


def test_same_version_is_served_from_memory() -> None:
    now = [0.0]
    users, load = _directory(now), Loads()
    assert users.account("v1", 7, load).email == "a@example.test"
    load.email = "b@example.test"
    cached = users.account("v1", 7, load)
    assert cached.email == "a@example.test"
    assert cached.password_hash == ""  # never kept in memory
    assert load.count == 1


def test_a_new_version_loads_again_at_once() -> None:
    now = [0.0]
    users, load = _directory(now), Loads()
    users.account("v1", 7, load)
    load.email = "b@example.test"
    assert users.account("v2", 7, load).email == "b@example.test"
    assert load.count == 2
    # A request that read the version before the change never gets the newer copy
    # mixed up with its own: it loads for itself.
    assert users.account(None, 7, load).email == "b@example.test"
    assert load.count == 3


def test_entries_age_out() -> None:
    now = [0.0]
    users, load = _directory(now, max_age=60.0), Loads()
    users.account("v1", 7, load)
    now[0] = 59.0
    users.account("v1", 7, load)
    assert load.count == 1
    now[0] = 60.0
    users.account("v1", 7, load)
    assert load.count == 2


def test_nothing_is_kept_while_a_new_version_settles() -> None:
    now = [0.0]
    users, load = _directory(now, settle=1.0), Loads()
    users.account("v1", 7, load)
    users.account("v1", 7, load)
    assert load.count == 2
    now[0] = 1.0
    users.account("v1", 7, load)
    users.account("v1", 7, load)
    assert load.count == 3


def test_patient_ids_are_cached_per_practice_including_none() -> None:
    now = [0.0]
    users = _directory(now)
    calls: list[int] = []

    def loader(portal_id: int, value: str | None):  # type: ignore[no-untyped-def]
        def load() -> str | None:
            calls.append(portal_id)
            return value

        return load

    assert users.patient_id("v1", 7, 1, loader(1, "MRN-1")) == "MRN-1"
    assert users.patient_id("v1", 7, 2, loader(2, None)) is None
    assert users.patient_id("v1", 7, 1, loader(1, "other")) == "MRN-1"
    assert users.patient_id("v1", 7, 2, loader(2, "other")) is None
    assert calls == [1, 2]
    assert users.patient_id("v2", 7, 1, loader(1, "MRN-2")) == "MRN-2"


def test_max_age_zero_caches_nothing() -> None:
    now = [0.0]
    users, load = _directory(now, max_age=0.0), Loads()
    users.account("v1", 7, load)
    users.account("v1", 7, load)
    assert load.count == 2
