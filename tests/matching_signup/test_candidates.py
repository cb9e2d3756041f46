"""Blocking keys in SQL: stored as HMACs, searched by an index probe, never a scan."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text

from idp.app import create_app
from idp.policies.matching import Demographics, blocking_keys
from idp.services import Services
from idp.store.candidates import index_person
from idp.store.sql import models
from idp.store.sql.candidates import KEY_HEX, MatchingSecretMismatchError, hash_keys, key_secret

from .conftest import PHONE, link_portal, patient

GRACE = Demographics(
    first_name="Grace",
    last_name="Hopper",
    dob=date(1990, 5, 17),
    zip="02139",
    gender="female",
    email="grace@example.test",
)


def _secret(services: Services) -> str:
    return services.settings.secret_key


def test_keys_are_hmacs_of_the_policy_keys(services: Services) -> None:
    account = patient(services, "grace")
    assert account.person is not None
    with services.db.transaction() as uow:
        stored = uow.candidates.keys_of(account.person.id)
    plain = blocking_keys(replace(GRACE, phone=PHONE))
    assert len(stored) == len(plain) == 9  # every kind of key: e, p, dz, df, dl, dn, zn, di, zi
    assert all(re.fullmatch(f"[0-9a-f]{{{KEY_HEX}}}", k) for k in stored)
    joined = " ".join(stored)
    for fragment in ("grace", "hopper", "1990", "02139", "6175550123"):
        assert fragment not in joined
    assert stored == hash_keys(plain, key_secret(_secret(services)))


def test_another_secret_is_refused_naming_reindex(services: Services) -> None:
    """Keys under another secret would silently find nobody (issue 8, item 14): refuse."""
    patient(services, "grace")
    other = "another secret " + "z" * 32
    with services.db.transaction() as uow:
        assert [c.username for c in uow.candidates.candidates(GRACE, secret=_secret(services))] == [
            "grace"
        ]
        with pytest.raises(MatchingSecretMismatchError, match="idp persons reindex"):
            uow.candidates.candidates(GRACE, secret=other)
        with pytest.raises(MatchingSecretMismatchError):
            uow.candidates.index_person(1, GRACE, secret=other)
    # A server started under the other secret refuses to start at all.
    restarted = replace(services, settings=replace(services.settings, secret_key=other))
    with pytest.raises(MatchingSecretMismatchError):
        create_app(services=restarted)


def test_candidates_share_a_key_and_exclude_closed_or_accountless_persons(
    services: Services,
) -> None:
    patient(services, "grace")
    patient(services, "grace.typo", zip="02138", email="other@example.test", phone=None)
    patient(services, "ada", first_name="Ada", last_name="Lovelace", dob=date(1815, 12, 10),
            email="ada@example.test", phone="+16175550177")  # fmt: skip
    closed = patient(services, "grace.closed", email="closed@example.test", phone=None)
    with services.db.session() as session:
        session.execute(
            models.Account.__table__.update()
            .where(models.Account.id == closed.id)
            .values(status="closed")
        )
        person = models.Person(
            first_name="Grace", last_name="Hopper", dob=date(1990, 5, 17), zip="02139",
            email="grace@example.test", created_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(person)
        session.flush()
        person_id = person.id
    with services.db.transaction() as uow:
        index_person(uow, person_id, GRACE, _secret(services), fresh=True)  # no account
        found = uow.candidates.candidates(GRACE, secret=_secret(services))
    assert [c.username for c in found] == ["grace", "grace.typo"]  # most shared keys first
    assert found[0].shared_keys > found[1].shared_keys
    assert found[0].phones == (PHONE,)
    assert found[0].email_verified and found[0].demographics.email == "grace@example.test"


def test_limit_caps_the_candidates(services: Services) -> None:
    for n in range(5):
        patient(services, f"twin-{n}", email=f"t{n}@example.test", phone=None)
    with services.db.transaction() as uow:
        assert len(uow.candidates.candidates(GRACE, secret=_secret(services), limit=3)) == 3


def test_reindexing_replaces_and_rebuilds(services: Services, cli) -> None:  # type: ignore[no-untyped-def]
    account = patient(services, "grace")
    assert account.person is not None
    moved = replace(GRACE, zip="94110")
    with services.db.transaction() as uow:
        before = uow.candidates.keys_of(account.person.id)
        uow.candidates.index_person(account.person.id, moved, secret=_secret(services))
        after = uow.candidates.keys_of(account.person.id)
    assert len(after) == len(blocking_keys(moved)) == 8  # no phone in ``moved``
    assert set(before) != set(after)
    with services.db.session() as session:
        session.execute(models.PersonBlockingKey.__table__.delete())
    result = cli("persons", "reindex", "--json")
    assert result["persons"] == 1 and result["keys"] == 9
    with services.db.transaction() as uow:
        assert set(uow.candidates.keys_of(account.person.id)) == set(before)


def test_add_keys_adds_only_what_is_missing(services: Services) -> None:
    account = patient(services, "grace", phone=None)
    assert account.person is not None
    with services.db.transaction() as uow:
        assert len(uow.candidates.keys_of(account.person.id)) == 8
        with_phone = replace(GRACE, phone=PHONE)
        assert uow.candidates.add_keys(account.person.id, with_phone, secret=_secret(services)) == 1
        assert uow.candidates.add_keys(account.person.id, with_phone, secret=_secret(services)) == 0
        assert len(uow.candidates.keys_of(account.person.id)) == 9


def test_persons_without_a_birth_date_get_no_keys(services: Services) -> None:
    account = patient(services, "grace", index=False)
    assert account.person is not None
    no_dob = models.Person(first_name="Grace", last_name="Hopper", dob=None,
                           created_at=datetime.now(UTC))  # fmt: skip
    with services.db.transaction() as uow:
        assert uow.candidates.index_person(account.person.id, no_dob, secret="s" * 40) == 0


def test_listed_practices_are_active_and_consenting(services: Services) -> None:
    account = patient(services, "grace")
    link_portal(services, account, "Zeta Clinic")
    link_portal(services, account, "Alpha Practice")
    link_portal(services, account, "Hidden Psychiatry", listed=False)
    link_portal(services, account, "Old Practice", status="revoked")
    with services.db.transaction() as uow:
        assert uow.candidates.listed_practices(account.id) == ["Alpha Practice", "Zeta Clinic"]


def _many_keys(services: Services, persons: int = 4000, *, accounts: bool = False) -> None:
    """Enough rows for the planner to prefer the index (tiny tables are scanned)."""
    now = datetime.now(UTC)
    with services.db.session() as session:
        session.execute(
            insert(models.Person),
            [
                {
                    "first_name": f"P{n}",
                    "last_name": "Synthetic",
                    "dob": date(1950, 1, 1) + timedelta(days=n),
                    "zip": f"{n % 99999:05d}",
                    "created_at": now,
                }
                for n in range(persons)
            ],
        )
        ids = session.scalars(select(models.Person.id)).all()
        session.execute(
            insert(models.PersonBlockingKey),
            [{"person_id": pid, "key": f"{pid:08x}{k:024x}"} for pid in ids for k in range(5)],
        )
        if accounts:
            taken = set(session.scalars(select(models.Account.person_id)))
            session.execute(
                insert(models.Account),
                [
                    {
                        "subject": f"synthetic-{pid}",
                        "username": f"synthetic-{pid}",
                        "username_key": f"synthetic-{pid}",
                        "password_hash": "x",
                        "email_verified": False,
                        "phone_verified": False,
                        "person_id": pid,
                        "status": "active",
                        "must_change_password": False,
                        "created_at": now,
                        "updated_at": now,
                        "password_changed_at": now,
                    }
                    for pid in ids
                    if pid not in taken
                ],
            )


def _plan(services: Services) -> tuple[str, str]:
    keys = hash_keys(blocking_keys(GRACE), key_secret(_secret(services)))
    with services.db.transaction() as uow:
        compiled = uow.candidates.candidate_query(keys).compile(
            dialect=uow.session.bind.dialect,  # type: ignore[union-attr]
            compile_kwargs={"literal_binds": True},
        )
        dialect = uow.session.bind.dialect.name  # type: ignore[union-attr]
        uow.session.execute(text("ANALYZE"))
        if dialect == "postgresql":
            rows = uow.session.execute(text(f"EXPLAIN {compiled}")).all()
            return dialect, "\n".join(row[0] for row in rows)
        rows = uow.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return dialect, "\n".join(str(row[-1]) for row in rows)


def test_the_account_join_uses_an_index(services: Services) -> None:
    patient(services, "grace")
    _many_keys(services, accounts=True)
    dialect, plan = _plan(services)
    scan = "Seq Scan on accounts" if dialect == "postgresql" else "SCAN accounts"
    assert scan not in plan, plan


def test_the_search_uses_the_key_index(services: Services) -> None:
    """EXPLAIN the real statement: an index lookup on ``key``, not a table scan."""
    patient(services, "grace")
    _many_keys(services, accounts=True)
    dialect, plan = _plan(services)
    if dialect == "postgresql":
        assert "Index Scan using ix_person_blocking_keys_key" in plan or (
            "Bitmap Index Scan on ix_person_blocking_keys_key" in plan
        ), plan
        assert "Seq Scan on person_blocking_keys" not in plan, plan
        assert re.search(r"Index Cond: \(\(?key\)?(::text)? = ANY", plan), plan
    else:
        index = r"USING (COVERING )?INDEX ix_person_blocking_keys_key \(key=\?\)"
        assert re.search(f"SEARCH person_blocking_keys {index}", plan), plan
        assert "SCAN person_blocking_keys" not in plan, plan
    with services.db.transaction() as uow:
        found = uow.candidates.candidates(GRACE, secret=_secret(services))
    assert [c.username for c in found] == ["grace"]
