"""``idp proxy notify-transitions`` across birthdays with a fixed clock, in a practice whose
time zone is not UTC; renewal of an adult's grant and of a grant at majority. Mail goes
over real SMTP and is read back from there."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from idp.flows.patients import ProxyRefusal
from idp.flows.proxy_notices import ProxyNoticeFlow
from idp.policies.proxy import nth_birthday
from idp.records import PortalRecord, RequestMeta
from tests.helpers import MovableClock

from .conftest import Practice, text_of

LA = ZoneInfo("America/Los_Angeles")


def move_to(practice: Practice, at: datetime) -> None:
    """Fix the clock at ``at`` (to the millisecond the test takes)."""
    clock = practice.services.clock
    assert isinstance(clock, MovableClock)
    clock.offset = at - datetime.now(UTC)


def la_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LA).astimezone(UTC)


def _in_los_angeles(practice: Practice, portal: PortalRecord) -> None:
    with practice.services.db.transaction() as uow:
        uow.portals.set_proxy_terms(
            portal.id,
            teen_age=13,
            majority_age=18,
            adult_grant_months=18,
            time_zone="America/Los_Angeles",
        )


def _birthday_in(days: int) -> date:
    """A 13th birthday ``days`` from today in Los Angeles (never 29 February)."""
    day = datetime.now(LA).date() + timedelta(days=days)
    if (day.month, day.day) == (2, 29):
        day += timedelta(days=1)
    return day


def test_notify_transitions_across_the_teen_and_majority_birthdays(
    practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    _in_los_angeles(practice, northside)
    birthday = _birthday_in(20)
    born = date(birthday.year - 13, birthday.month, birthday.day)
    assert practice.add_patient(ehr, dob=born.isoformat()).status_code == 201
    practice.parent()
    grant = practice.grant(admin).get_json()
    assert grant["level"] == "full"
    practice.mail()
    notices = ProxyNoticeFlow.from_services(practice.services)

    assert notices.run() == (0, 0, 0)
    # Past midnight UTC on the birthday, but still the eve in Los Angeles: no change yet.
    eve = la_midnight(birthday) - timedelta(minutes=1)
    assert eve.date() == birthday  # the UTC calendar already shows the birthday
    move_to(practice, eve)
    assert notices.run().notified == 0
    assert practice.mail() == []

    move_to(practice, la_midnight(birthday) + timedelta(minutes=1))
    report = notices.run()
    assert (report.expired, report.notified) == (0, 1)
    (mail,) = practice.mail()  # the child has no account: only the parent is told
    assert mail["To"] == "grace@example.test"
    assert mail["Subject"] == "Proxy access changes at Northside Pediatrics"
    body = " ".join(text_of(mail).split())
    assert f"From {birthday.isoformat()}, your access to Tim's record" in body
    assert "limited teen access" in body and "(it was full access)" in body
    view = practice.flow().get(grant["id"])
    assert [(e.action, e.reason) for e in view.history] == [
        ("granted", None),
        ("notified", f"teen_age@{birthday.isoformat()}"),
    ]
    (event,) = practice.audit("proxy_access_changed")
    assert (event.details["level_before"], event.details["level_after"]) == (
        "full",
        "teen_limited",
    )

    # Idempotent: a second (and third) run sends nothing new and writes nothing.
    before = practice.rows()
    assert notices.run().notified == 0
    assert notices.run().notified == 0
    assert practice.mail() == []
    assert practice.rows() == before

    # The 18th birthday ends a minor's grant: marked expired, told once.
    majority = nth_birthday(born, 18)
    move_to(practice, la_midnight(majority) - timedelta(minutes=1))
    assert notices.run() == (0, 0, 0)
    move_to(practice, la_midnight(majority) + timedelta(minutes=1))
    assert notices.run() == (1, 0, 0)
    mails = practice.mail()
    assert [m["Subject"] for m in mails] == ["Proxy access expired at Northside Pediatrics"]
    assert notices.run() == (0, 0, 0)
    assert practice.mail() == []
    assert practice.flow().get(grant["id"]).grant.status == "expired"


def test_a_missed_run_still_tells_within_the_lookback(
    practice: Practice, northside: PortalRecord, ehr: str, admin: str
) -> None:
    _in_los_angeles(practice, northside)
    birthday = _birthday_in(3)
    born = date(birthday.year - 13, birthday.month, birthday.day)
    practice.add_patient(ehr, dob=born.isoformat())
    practice.parent()
    practice.grant(admin)
    practice.mail()
    move_to(practice, la_midnight(birthday) + timedelta(days=5))
    notices = ProxyNoticeFlow.from_services(practice.services)
    assert notices.run(lookback=timedelta(days=2)).notified == 0  # too long ago
    assert notices.run(lookback=timedelta(days=14)).notified == 1
    assert notices.run(lookback=timedelta(days=14)).notified == 0
    with pytest.raises(ValueError):
        notices.run(lookback=timedelta(0))


def test_adult_renews_before_the_period_ends(practice: Practice, northside: PortalRecord) -> None:
    ada = practice.parent("ada", age=70, first_name="Ada")
    charles = practice.parent("charles", age=45, first_name="Charles")
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(ada.id, northside.id, "MRN-ADA", practice.services.clock())
    flow = practice.flow()
    view = flow.grant_by_patient(
        ada, northside, representative="charles", relationship="other", meta=RequestMeta()
    )
    practice.mail()
    start = practice.services.clock()
    move_to(practice, start + timedelta(days=520))  # 17 months on
    # Only the patient may renew; the representative's attempt is a 404 that changes nothing.
    with pytest.raises(ProxyRefusal) as refused:
        flow.renew_by_patient(view.grant.id, charles, meta=RequestMeta())
    assert (refused.value.code, refused.value.status) == ("not_found", 404)
    renewed = flow.renew_by_patient(view.grant.id, ada, meta=RequestMeta())
    assert renewed.grant.starts_on == practice.services.clock().date()
    assert [e.action for e in renewed.history] == ["granted", "renewed"]
    mails = {m["To"]: m["Subject"] for m in practice.mail()}
    assert mails == {
        "ada@example.test": "Proxy access renewed at Northside Pediatrics",
        "charles@example.test": "Proxy access renewed at Northside Pediatrics",
    }
    # 19 months after the first grant: still allowed, on the renewed period.
    move_to(practice, start + timedelta(days=580))
    access = flow.access(
        representative_account_id=charles.id,
        patient_person_id=view.grant.patient_person_id,
        portal_id=northside.id,
    )
    assert access is not None and access.allowed and access.reasons == ("adult_grant",)
    assert practice.audit("proxy_renewed")[0].actor == ada.subject


def test_at_majority_the_grant_ends_unless_the_adult_patient_grants_again(
    practice: Practice, northside: PortalRecord, admin: str
) -> None:
    eighteenth = datetime.now(UTC).date() + timedelta(days=10)
    if (eighteenth.month, eighteenth.day) == (2, 29):
        eighteenth += timedelta(days=1)
    born = date(eighteenth.year - 18, eighteenth.month, eighteenth.day)
    sam = practice.factory.account(
        "sam", first_name="Sam", last_name="Hopper", dob=born, email="sam@example.test"
    )
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(sam.id, northside.id, "MRN-7", practice.services.clock())
    practice.parent()
    grant = practice.grant(admin).get_json()
    assert grant["level"] == "teen_limited"
    flow = practice.flow()
    with pytest.raises(ProxyRefusal) as young:
        flow.renew_by_patient(grant["id"], sam, meta=RequestMeta())
    assert (young.value.code, young.value.status) == ("patient_not_adult", 403)

    move_to(practice, datetime.combine(eighteenth, time(0, 1), tzinfo=UTC))
    ended = flow.get(grant["id"])
    assert (ended.decision.allowed, ended.decision.reasons) == (False, ("majority_reached",))
    practice.mail()
    again = flow.renew_by_patient(grant["id"], sam, meta=RequestMeta())
    assert (again.grant.kind, again.decision.level.value) == ("patient", "adult")
    assert ProxyNoticeFlow.from_services(practice.services).run().expired == 0
    assert [e.action for e in again.history] == ["granted", "renewed"]
