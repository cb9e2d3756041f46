"""``idp staff add|list|remove``: roles on existing accounts, bad input changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from idp.store.sql import models
from idp.store.sql.database import Database

from .conftest import Run, add_user, as_json


def _audit_count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(models.AuditEvent)) or 0)


def _staff_rows(db: Database) -> list[tuple[int, str]]:
    with db.session() as session:
        return [(r.account_id, r.role) for r in session.scalars(select(models.StaffMember))]


def test_add_list_remove(run: Run, clean_database: Database) -> None:
    run("portals", "add", "--name", "North Clinic", "--slug", "north")
    run("portals", "add", "--name", "South Clinic", "--slug", "south")
    for name in ("dana", "pat", "audra"):
        add_user(run, name)
    assert as_json(run("staff", "add", "--username", "dana", "--role", "support", "--json")) == {
        **as_json(run("staff", "list", "--json"))[0],
        "role": "support",
    }
    added = as_json(
        run(
            "staff", "add", "--username", "pat", "--role", "practice",
            "--portal", "south", "--portal", "north", "--json",
        )
    )  # fmt: skip
    assert added["portals"] == ["north", "south"]
    run("staff", "add", "--username", "AUDRA", "--role", "Auditor")
    listed = as_json(run("staff", "list", "--json"))
    assert [(r["username"], r["role"], r["portals"]) for r in listed] == [
        ("dana", "support", []),
        ("pat", "practice", ["north", "south"]),
        ("audra", "auditor", []),
    ]
    # a new role replaces the old one
    run("staff", "add", "--username", "dana", "--role", "admin")
    assert as_json(run("staff", "list", "--json"))[0]["role"] == "admin"
    assert "no longer staff" in run("staff", "remove", "--username", "pat").output
    assert [r["username"] for r in as_json(run("staff", "list", "--json"))] == ["dana", "audra"]

    with clean_database.session() as session:
        events = session.scalars(
            select(models.AuditEvent)
            .where(models.AuditEvent.type.in_(["staff_role_granted", "staff_role_removed"]))
            .order_by(models.AuditEvent.id)
        ).all()
    assert [(e.type, e.actor, e.details.get("role")) for e in events] == [
        ("staff_role_granted", "staff:cli", "support"),
        ("staff_role_granted", "staff:cli", "practice"),
        ("staff_role_granted", "staff:cli", "auditor"),
        ("staff_role_granted", "staff:cli", "admin"),
        ("staff_role_removed", "staff:cli", "practice"),
    ]
    assert events[1].details["portals"] == ["north", "south"]
    assert events[3].details["previous_role"] == "support"


def test_bad_input_changes_nothing(run: Run, clean_database: Database) -> None:
    run("portals", "add", "--name", "North Clinic", "--slug", "north")
    add_user(run, "dana")
    run("staff", "add", "--username", "dana", "--role", "support")
    before = (_audit_count(clean_database), _staff_rows(clean_database))
    cases = [
        (["--username", "dana", "--role", "root"], "unknown role"),
        (["--username", "dana", "--role", "practice"], "at least one --portal"),
        (["--username", "dana", "--role", "practice", "--portal", "nowhere"], "no portal"),
        (["--username", "dana", "--role", "support", "--portal", "north"], "not scoped"),
        (["--username", "ghost", "--role", "support"], "no account"),
        (["--username", "", "--role", "support"], "user ID"),
    ]
    for args, message in cases:
        result = run("staff", "add", *args, code=2)
        assert message in result.output, (args, result.output)
    assert "is not staff" in run("staff", "remove", "--username", "ghost", code=2).output
    assert (_audit_count(clean_database), _staff_rows(clean_database)) == before


def test_a_named_staff_account_acts_with_its_own_role(run: Run, clean_database: Database) -> None:
    for name in ("dana", "sam"):
        add_user(run, name)
    run("staff", "add", "--username", "dana", "--role", "support")
    before = _staff_rows(clean_database)
    refused = run("staff", "add", "--username", "sam", "--role", "admin", "--staff", "dana", code=2)
    assert "support role may not staff_manage" in refused.output
    assert _staff_rows(clean_database) == before
    run("staff", "add", "--username", "sam", "--role", "admin", "--staff", "Dana Lee")
    assert len(_staff_rows(clean_database)) == 2
