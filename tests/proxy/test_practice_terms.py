"""Each practice's proxy terms (teen age, age of majority, adult-grant period, time zone):
checked before they are stored, set by ``idp portals add|edit``, shown by ``idp portals
list``, and used for every grant at that practice."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from idp.flows.proxy_terms import TermsRefusal, check_terms, practice_rules
from idp.records import PortalRecord
from idp.store.sql.database import Database
from tests.invitations.test_cli import Run

from .conftest import Practice, years_ago

GOOD = {"teen_age": 13, "majority_age": 18, "adult_grant_months": 18, "time_zone": "UTC"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "localtime"}, "time_zone"),  # loads from a file, not an IANA name
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"time_zone": "A" * 300}, "time_zone"),
        ({"teen_age": 18}, "teen_age"),  # at majority: a parent's full access would never end
        ({"teen_age": 0}, "teen_age"),
        ({"majority_age": 26}, "teen_age"),
        ({"adult_grant_months": 0}, "adult_grant_months"),
        ({"adult_grant_months": 121}, "adult_grant_months"),
    ],
)
def test_bad_terms_are_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(TermsRefusal) as refused:
        check_terms(**{**GOOD, **changes})  # type: ignore[arg-type]
    assert refused.value.field == field


def test_practice_rules_carry_the_practice_calendar() -> None:
    portal = PortalRecord(1, "x", "X", teen_age=12, majority_age=19, time_zone="Asia/Tokyo")
    rules = practice_rules(portal)
    assert (rules.teen_age, rules.majority_age, rules.adult_grant_months) == (12, 19, 18)
    assert rules.time_zone == ZoneInfo("Asia/Tokyo")
    assert check_terms(**{**GOOD, "time_zone": " Asia/Tokyo "}).time_zone == "Asia/Tokyo"


def _portals(run: Run) -> list[dict[str, object]]:
    return list(json.loads(run("portals", "list", "--json").output))


def test_portals_add_edit_list(run: Run, clean_database: Database) -> None:
    added = json.loads(
        run(
            "portals",
            "add",
            "--name",
            "Bay Pediatrics",
            "--proxy-preset",
            "teen-12",
            "--time-zone",
            "America/Los_Angeles",
            "--json",
        ).output
    )
    assert added == {
        "slug": "bay-pediatrics",
        "name": "Bay Pediatrics",
        "teen_age": 12,
        "majority_age": 18,
        "adult_grant_months": 18,
        "time_zone": "America/Los_Angeles",
    }
    plain = json.loads(run("portals", "add", "--name", "Plain", "--json").output)
    assert (plain["teen_age"], plain["time_zone"]) == (13, "UTC")
    edited = json.loads(
        run(
            "portals",
            "edit",
            "bay-pediatrics",
            "--majority-age",
            "19",
            "--adult-grant-months",
            "12",
            "--json",
        ).output
    )
    assert (edited["teen_age"], edited["majority_age"], edited["adult_grant_months"]) == (
        12,
        19,
        12,
    )
    text = run("portals", "list").output
    assert "bay-pediatrics  Bay Pediatrics  (teen 12, majority 19, adult grants 12 months, " in text
    listed = _portals(run)
    with clean_database.transaction() as uow:
        changes = [e for e in uow.audit.tail(50) if e.type == "portal_proxy_terms_changed"]
    assert len(changes) == 2 and changes[-1].actor == "staff:cli"

    # Bad input: exit 2 with the reason, nothing stored, nothing audited.
    bad = [
        (["--time-zone", "Mars/Base"], "unknown IANA time zone"),
        (["--teen-age", "19"], "--teen-age"),
        (["--proxy-preset", "teen-12", "--teen-age", "12"], "not both"),
        (["--proxy-preset", "teen-99"], "Invalid value"),
        (["--adult-grant-months", "0"], "--adult-grant-months"),
        ([], "nothing to change"),
    ]
    for args, message in bad:
        output = run("portals", "edit", "bay-pediatrics", *args, code=2).output
        assert message in output, (args, output)
    assert "no portal" in run("portals", "edit", "nowhere", "--teen-age", "12", code=2).output
    assert "unknown IANA" in run("portals", "add", "--name", "Z", "--time-zone", "x", code=2).output
    assert _portals(run) == listed
    with clean_database.transaction() as uow:
        assert len([e for e in uow.audit.tail(50) if e.type == "portal_proxy_terms_changed"]) == 2


def test_grants_follow_their_practice_terms(practice: Practice, admin: str) -> None:
    """A 12-year-old is a teen at a teen-12 practice and a child at a teen-13 one; an
    18-year-old is still a minor where majority is 19."""
    bay = practice.portal("bay", "Bay Pediatrics")
    north = practice.portal()
    with practice.services.db.transaction() as uow:
        uow.portals.set_proxy_terms(
            bay.id, teen_age=12, majority_age=19, adult_grant_months=18, time_zone="UTC"
        )
    practice.parent()
    for portal in (bay, north):
        ehr = practice.token(portal, "portal:patients")
        assert practice.add_patient(ehr, patient_id="MRN-12", dob=years_ago(12)).status_code == 201
        assert practice.add_patient(ehr, patient_id="MRN-18", dob=years_ago(18)).status_code == 201

    def level(slug: str, mrn: str) -> str:
        response = practice.grant(admin, slug=slug, patient_id=mrn)
        body = response.get_json()
        return str(body.get("level") or body.get("code"))

    assert level("bay", "MRN-12") == "teen_limited"
    assert level("northside", "MRN-12") == "full"
    assert level("bay", "MRN-18") == "teen_limited"
    # Majority 18: a parent's staff grant for an adult needs a legal document.
    assert level("northside", "MRN-18") == "majority_reached"
