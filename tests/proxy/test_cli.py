"""``idp patients add`` and ``idp proxy grant|approve|revoke|list`` against the test
database and a real SMTP server; bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from idp.store.sql.database import Database
from idp.store.sql.repositories import NewPerson
from tests.invitations.test_cli import Run
from tests.notify.conftest import SmtpServer

from .conftest import years_ago

NOW = datetime.now(UTC)


def _setup(database: Database) -> None:
    with database.transaction() as uow:
        uow.portals.add(slug="northside", name="Northside Pediatrics", now=NOW)
        uow.accounts.add(
            username="grace",
            password_hash="x",
            email="grace@example.test",
            now=NOW,
            person=NewPerson("Grace", "Hopper", dob=date(1980, 1, 1)),
        )


def test_staff_enrol_grant_teen_sign_and_revoke(
    run: Run, clean_database: Database, smtp: SmtpServer
) -> None:
    _setup(clean_database)
    common = ["--portal", "northside", "--patient-id", "MRN-7"]
    run(
        "patients",
        "add",
        *common,
        "--first-name",
        "Tim",
        "--last-name",
        "Hopper",
        "--dob",
        years_ago(14),
        "--zip",
        "02139",
        "--staff",
        "Joy",
    )
    granted = json.loads(
        run(
            "proxy",
            "grant",
            *common,
            "--representative",
            "grace",
            "--relationship",
            "parent",
            "--evidence",
            "PCR-1",
            "--staff",
            "Joy",
            "--full-access",
            "--json",
        ).output
    )
    assert granted["status"] == "pending_cosignature"
    approved = json.loads(
        run(
            "proxy", "approve", str(granted["id"]), "--staff", "Dr Who", "--teen-signed", "--json"
        ).output
    )
    assert (approved["status"], approved["level"]) == ("active", "teen_full")
    listed = json.loads(run("proxy", "list", "--portal", "northside", "--json").output)
    assert [g["id"] for g in listed] == [granted["id"]]
    run("proxy", "revoke", str(granted["id"]), "--staff", "Joy", "--reason", "asked by parent")
    assert len(smtp.mailbox.messages) == 3  # granted (pending), approved, revoked
    # Bad input: exit 2, nothing written.
    assert (
        "unknown patient"
        in run(
            "proxy",
            "grant",
            "--portal",
            "northside",
            "--patient-id",
            "MRN-8",
            "--representative",
            "grace",
            "--relationship",
            "parent",
            "--evidence",
            "PCR-2",
            "--staff",
            "Joy",
            code=2,
        ).output
    )
    run(
        "proxy",
        "grant",
        "--portal",
        "nowhere",
        "--patient-id",
        "MRN-7",
        "--representative",
        "grace",
        "--relationship",
        "parent",
        "--evidence",
        "PCR-2",
        "--staff",
        "Joy",
        code=2,
    )
    run(
        "patients",
        "add",
        *common[:2],
        "--patient-id",
        "MRN-9",
        "--first-name",
        "T\x00m",
        "--last-name",
        "H",
        "--dob",
        years_ago(3),
        "--zip",
        "02139",
        code=2,
    )
    listed = json.loads(run("proxy", "list", "--portal", "northside", "--json").output)
    assert [g["status"] for g in listed] == ["revoked"]
