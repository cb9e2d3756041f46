"""``idp proxy notify-transitions`` from the command line: a teen birthday three days ago is
told once over SMTP; the second run sends nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from idp.records import PortalRecord
from idp.store.sql import models
from tests.invitations.test_cli import Run
from tests.notify.conftest import SmtpServer

from .conftest import Practice


def test_notify_transitions_command_is_idempotent(
    run: Run, practice: Practice, northside: PortalRecord, ehr: str, admin: str, smtp: SmtpServer
) -> None:
    today = datetime.now(UTC).date()
    birthday = today - timedelta(days=3)
    if (birthday.month, birthday.day) == (2, 29):
        birthday -= timedelta(days=1)
    born = date(birthday.year - 13, birthday.month, birthday.day)
    practice.add_patient(ehr, dob=born.isoformat())
    practice.parent()
    grant = practice.grant(admin).get_json()
    assert grant["level"] == "teen_limited"
    practice.mail()
    # The grant was made as a child's, before the birthday.
    with practice.services.db.transaction() as uow:
        uow.session.execute(
            update(models.ProxyGrant)
            .where(models.ProxyGrant.id == grant["id"])
            .values(created_at=datetime.now(UTC) - timedelta(days=10))
        )
    seen = len(smtp.mailbox.messages)

    first = json.loads(run("proxy", "notify-transitions", "--json").output)
    assert first == {"expired": 0, "notified": 1, "flagged": 0}
    new = smtp.mailbox.messages[seen:]
    assert [m["To"] for m in new] == ["grace@example.test"]
    assert new[0]["Subject"] == "Proxy access changes at Northside Pediatrics"

    second = json.loads(run("proxy", "notify-transitions", "--json").output)
    assert second == {"expired": 0, "notified": 0, "flagged": 0}
    assert len(smtp.mailbox.messages) == seen + 1
    # A lookback outside 1-366 days is refused before anything runs.
    assert (
        "--lookback-days"
        in run("proxy", "notify-transitions", "--lookback-days", "0", code=2).output
    )
