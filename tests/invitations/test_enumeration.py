"""Security invariants 4 and 6 on the activation and resend pages.

Before date of birth and zip match, every reply is the same whole response (status,
headers, body with the CSRF token and flow id normalised) whatever the code was;
wrong answers count toward a lockout on the invitation; "resend my code" always
answers the same.
"""

from __future__ import annotations

import secrets

import pytest
from flask.testing import FlaskClient

from idp.records import PortalRecord
from tests.helpers import MovableClock

from .conftest import PATIENT, Invites, message_ids, normalised, reasons


def _fresh(invites: Invites) -> FlaskClient:
    return invites.app.test_client()


def test_every_unusable_code_and_wrong_answer_gets_the_same_reply(
    invites: Invites, portal: PortalRecord, token: str, clock: MovableClock
) -> None:
    codes = {}
    for mrn in ("A1", "A2", "A3", "A4", "A5", "A6"):
        invites.invite(token, patient_id=mrn, email=f"{mrn.lower()}@example.test")
        codes[mrn] = invites.only_code()
    used, revoked = codes["A2"], codes["A3"]
    assert invites.create_account(invites.verified(used)).status_code == 303
    with invites.services.db.transaction() as uow:
        target = next(i for i in uow.invitations.for_portal(portal.id) if i.patient_id == "A3")
        uow.invitations.revoke(target.id, now=clock())

    replies = []
    for code, dob, zip_code in (
        (codes["A1"], "1990-05-18", PATIENT["zip"]),  # wrong date of birth
        (codes["A4"], PATIENT["dob"], "02140"),  # wrong zip
        (secrets.token_urlsafe(16), PATIENT["dob"], PATIENT["zip"]),  # no such code
        (used, PATIENT["dob"], PATIENT["zip"]),  # already used
        (revoked, PATIENT["dob"], PATIENT["zip"]),  # revoked
    ):
        client = _fresh(invites)
        opened = invites.open(code, client)
        replies.append(normalised(invites.verify(opened, dob, zip_code, client)))
    clock.advance(31 * 86400)
    client = _fresh(invites)
    expired = invites.verify(invites.open(codes["A5"], client), client=client)
    replies.append(normalised(expired))

    assert replies[0][0] == 400
    assert all(reply == replies[0] for reply in replies), "replies differ"
    assert message_ids(expired) == ["invitation_not_valid", "invitation_verify_prompt"]


def test_opening_a_real_or_unknown_link_looks_the_same(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.invite(token)
    real = invites.open(invites.only_code(), _fresh(invites))
    unknown = invites.open(secrets.token_urlsafe(16), _fresh(invites))
    assert real.status_code == 200
    assert normalised(real) == normalised(unknown)


def test_wrong_answers_lock_the_invitation_with_the_same_reply(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.invite(token)
    page = invites.open(invites.only_code())
    limit = invites.services.settings.lockout.max_failures
    wrong = [normalised(invites.verify(page, dob="1990-01-01")) for _ in range(limit)]
    assert all(reply == wrong[0] for reply in wrong)
    # Locked: even the right answers get the very same reply, unchecked.
    locked = invites.verify(page)
    assert normalised(locked) == wrong[0]
    events = invites.audit()
    assert [e.type for e in events].count("invitation_locked") == 1
    refusals = [e for e in events if e.type == "invitation_verification"]
    assert [e.details["reason"] for e in refusals] == ["dob_mismatch"] * limit + ["locked"]
    assert all(e.outcome == "failure" for e in refusals)


def test_unknown_codes_lock_exactly_like_real_ones(invites: Invites) -> None:
    page = invites.open(secrets.token_urlsafe(16))
    limit = invites.services.settings.lockout.max_failures
    for _ in range(limit + 1):
        reply = invites.verify(page)
        assert reply.status_code == 400
    types = invites.audit_types()
    assert types.count("invitation_locked") == 1
    assert types.count("invitation_verification") == limit + 1


@pytest.mark.settings(lockout__hard_cap=3)
def test_hard_cap_revokes_the_invitation(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    page = invites.open(invites.only_code())
    for _ in range(3):
        assert invites.verify(page, zip="99999").status_code == 400
    assert invites.invitation(created["id"]).status == "revoked"
    revoked = [e for e in invites.audit() if e.type == "invitation_revoked"]
    assert revoked[-1].details == {
        "invitation_id": created["id"],
        "portal": "northside",
        "reason": "hard_cap",
    }
    # Now even the right answers fail: the practice has to send a new invitation.
    assert "invitation_not_valid" in message_ids(invites.verify(page))


def test_success_clears_the_count(invites: Invites, portal: PortalRecord, token: str) -> None:
    invites.invite(token)
    code = invites.only_code()
    page = invites.open(code)
    limit = invites.services.settings.lockout.max_failures
    for _ in range(limit - 1):
        invites.verify(page, dob="1990-01-01")
    assert invites.verify(page).status_code == 200
    # A new attempt on the same code starts from zero.
    page = invites.open(code)
    for _ in range(limit - 1):
        invites.verify(page, dob="1990-01-01")
    assert invites.verify(page).status_code == 200


# --- resend my activation code ---------------------------------------------------------------


def test_resend_replies_the_same_and_mails_only_a_match(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    old = invites.only_code()

    replies = [
        invites.resend(_fresh(invites)),  # matches
        invites.resend(_fresh(invites), email="nobody@example.test"),  # no invitation
        invites.resend(_fresh(invites), dob="1990-05-18"),  # wrong date of birth
        invites.resend(_fresh(invites), zip="02140"),  # wrong zip (optional field)
    ]
    assert replies[0].status_code == 200
    assert message_ids(replies[0]) == ["invitation_resend_sent"]
    assert all(normalised(r) == normalised(replies[0]) for r in replies)

    [mail] = invites.mail()
    assert mail["To"] == PATIENT["email"]
    new = invites.code_from(mail)
    assert new != old
    # The old code died with the resend; the practice's invitation id stays the same.
    dead = invites.verify(invites.open(old))
    assert "invitation_not_valid" in message_ids(dead)
    assert invites.create_account(invites.verified(new)).status_code == 303
    assert invites.invitation(created["id"]).status == "activated"


def test_resend_matches_case_insensitively_and_with_zip_plus_four(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.invite(token)
    invites.mail()
    reply = invites.resend(email="Grace@Example.TEST", dob="05/17/1990", zip="02139-4307")
    assert reply.status_code == 200
    assert len(invites.mail()) == 1


def test_resend_is_throttled_per_address_without_telling(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.invite(token)
    invites.mail()
    replies = [normalised(invites.resend(_fresh(invites))) for _ in range(5)]
    assert all(reply == replies[0] for reply in replies)
    assert len(invites.mail()) == 3
    assert invites.audit_types().count("invitation_resend") == 5


def test_resend_refuses_malformed_input(invites: Invites) -> None:
    reply = invites.resend(email="not an address", dob="1990-13-45", zip="12")
    assert reply.status_code == 400
    assert reasons(reply) == [
        "invitation_email_invalid",
        "invitation_dob_invalid",
        "invitation_zip_invalid",
    ]
    assert invites.mail() == []


def test_expired_invitations_are_not_resent(
    invites: Invites, portal: PortalRecord, token: str, clock: MovableClock
) -> None:
    invites.invite(token)
    invites.mail()
    clock.advance(31 * 86400)
    assert invites.resend().status_code == 200
    assert invites.mail() == []
