"""Invitation to linked account, end to end: API, real mail, activation pages, sign-in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from idp.records import PortalRecord
from idp.store.sql import models
from tests.helpers import MovableClock, csrf_token, form_values

from .conftest import (
    DOB,
    PASSWORD,
    PATIENT,
    QUESTIONS,
    Invites,
    domain_rows,
    flow_id,
    html_of,
    message_ids,
    reasons,
    text_of,
)


def test_patient_creates_an_account_from_an_invitation(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    assert created["patient_id"] == "MRN-0042"
    assert created["status"] == "pending"
    assert "code" not in created

    [mail] = invites.mail()
    assert mail["To"] == "grace@example.test"
    text, html = text_of(mail), html_of(mail)
    code = invites.code_from(mail)
    assert len(code) >= 22  # 128 random bits
    assert "Northside Pediatrics" in text and code in text
    assert "Sign up for an account" in text and ">Sign up for an account</a>" in html
    assert f"/activate?code={code}" in html
    # Nothing from the record: no date of birth, zip or MRN in an email.
    for detail in ("1990", "02139", "MRN-0042", "Hopper"):
        assert detail not in text and detail not in html and detail not in mail["Subject"]

    page = invites.open(code)
    assert page.status_code == 200
    assert message_ids(page) == ["invitation_verify_prompt"]
    choose = invites.verify(page)
    assert choose.status_code == 200, choose.text[:1000]
    assert "Welcome to Northside Pediatrics" in choose.text
    assert 'action="/activate/account"' in choose.text

    done = invites.create_account(choose)
    assert done.status_code == 303, done.text[:1500]
    assert done.headers["Location"].endswith("/activate/done")
    assert invites.client.get_cookie("idp_session") is not None
    landing = invites.client.get("/activate/done")
    assert landing.status_code == 200
    assert "Northside Pediatrics" in landing.text
    # Signed in: the SSO session works for the account page.
    assert invites.client.get("/account").status_code == 200

    with invites.services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
        assert account is not None
        assert account.status == "active" and account.email_verified
        assert account.email == "grace@example.test"
        assert account.person is not None
        assert (account.person.first_name, account.person.last_name) == ("Grace", "Hopper")
        assert (account.person.dob, account.person.zip) == (DOB, "02139")
        assert account.person.gender == "female"
        assert len(uow.security_answers.for_account(account.id)) == 3
        # Indexed for sign-up matching: a later sign-up with these details finds it.
        from idp.policies.matching import Demographics

        found = uow.candidates.candidates(
            Demographics("Grace", "Hopper", DOB, "02139", gender="female"),
            secret=invites.services.settings.secret_key,
        )
        assert [c.account_id for c in found] == [account.id]
    link = invites.links(account.id, portal)
    assert link is not None and link.patient_id == "MRN-0042"
    invitation = invites.invitation(created["id"])
    assert invitation.status == "activated" and invitation.account_id == account.id

    types = invites.audit_types()
    for event in (
        "invitation_created",
        "invitation_verification",
        "account_created",
        "invitation_activated",
    ):
        assert event in types
    # Never the code in the audit trail.
    assert all(code not in repr(e) for e in invites.audit())


def test_existing_account_links_a_second_practice_by_signing_in(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    """One key, many portals: the account already linked elsewhere adds this practice."""
    account = invites.factory.account(
        "grace", password=PASSWORD, dob=DOB, email="grace.h@example.test"
    )
    other = invites.practice("eastside", "Eastside Cardiology")
    with invites.services.db.transaction() as uow:
        uow.portal_links.link(account.id, other.id, "E-77", invites.services.clock())

    invites.invite(token)
    choose = invites.verified(invites.only_code())
    done = invites.sign_in(choose, "grace")
    assert done.status_code == 303, done.text[:1500]
    assert done.headers["Location"].endswith("/activate/done")
    assert invites.client.get_cookie("idp_session") is not None

    mine = invites.links(account.id, portal)
    assert mine is not None and mine.patient_id == "MRN-0042"
    assert invites.links(account.id, other) is not None
    # No second account was made.
    assert domain_rows(invites)["accounts"] == 1
    activated = [e for e in invites.audit() if e.type == "invitation_activated"]
    assert activated[-1].details["path"] == "existing_account"
    assert activated[-1].subject == account.subject


def test_wrong_password_keeps_the_choice_and_counts(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    account = invites.factory.account("grace", password=PASSWORD, dob=DOB)
    invites.invite(token)
    choose = invites.verified(invites.only_code())
    wrong = invites.sign_in(choose, "grace", "not the password at all")
    assert wrong.status_code == 401
    assert "invalid_credentials" in message_ids(wrong)
    assert "login" in invites.audit_types()
    unknown = invites.sign_in(choose, "nobody-here", "not the password at all")
    assert unknown.status_code == 401 and "invalid_credentials" in message_ids(unknown)
    assert invites.links(account.id, portal) is None
    assert invites.sign_in(wrong, "grace").status_code == 303
    assert invites.links(account.id, portal) is not None


def test_another_persons_account_cannot_take_the_invitation(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    """A parent's login is not the child's: accounts cannot be shared (FAQ)."""
    parent = invites.factory.account("parent", password=PASSWORD, dob=DOB - timedelta(days=9000))
    invites.invite(token)
    choose = invites.verified(invites.only_code())
    refused = invites.sign_in(choose, "parent")
    assert refused.status_code == 409
    assert "invitation_other_person" in message_ids(refused)
    assert invites.links(parent.id, portal) is None
    assert invites.client.get_cookie("idp_session") is None


def test_email_already_in_use_steers_to_sign_in(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.factory.account("someone", email=PATIENT["email"])
    invites.invite(token)
    choose = invites.verified(invites.only_code())
    # Only the sign-in form; which account uses the address is not said.
    assert 'action="/activate/account"' not in choose.text
    assert 'action="/activate/signin"' in choose.text
    assert "someone" not in choose.text
    before = domain_rows(invites)
    refused = invites.create_account(choose)
    assert refused.status_code == 409
    assert "invitation_email_in_use" in message_ids(refused)
    assert domain_rows(invites) == before


def test_account_form_refusals_keep_the_flow(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.factory.account("taken-id")
    invites.invite(token)
    choose = invites.verified(invites.only_code())
    bad = invites.create_account(choose, username="x", password="short", accept_terms="")
    assert bad.status_code == 400
    codes = reasons(bad)
    assert "invitation_username_invalid" in codes
    assert "invitation_terms_not_accepted" in codes
    assert "too_short" in codes
    taken = invites.create_account(bad, username="TAKEN-ID")
    assert taken.status_code == 400 and reasons(taken) == ["invitation_username_taken"]
    assert PASSWORD not in taken.text
    assert invites.create_account(taken).status_code == 303


def test_code_is_single_use(invites: Invites, portal: PortalRecord, token: str) -> None:
    invites.invite(token)
    code = invites.only_code()
    assert invites.create_account(invites.verified(code)).status_code == 303
    again = invites.verify(invites.open(code))
    assert again.status_code == 400
    assert message_ids(again) == ["invitation_not_valid", "invitation_verify_prompt"]


def test_opening_the_link_never_uses_the_code(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    code = invites.only_code()
    for _ in range(3):
        assert invites.open(code).status_code == 200
    assert invites.invitation(created["id"]).status == "pending"
    assert invites.create_account(invites.verified(code)).status_code == 303


def test_code_can_be_typed(invites: Invites, portal: PortalRecord, token: str) -> None:
    invites.invite(token)
    code = invites.only_code()
    form = invites.client.get("/activate")
    assert form.status_code == 200 and message_ids(form) == ["invitation_code_prompt"]
    page = invites.client.post(
        "/activate/code", data={"csrf_token": csrf_token(form.text), "code": f" {code} "}
    )
    assert page.status_code == 200 and flow_id(page)
    assert invites.verify(page).status_code == 200
    malformed = invites.client.post(
        "/activate/code", data={"csrf_token": csrf_token(form.text), "code": "no!"}
    )
    assert malformed.status_code == 400
    assert "invitation_code_malformed" in message_ids(malformed)


def test_invitation_expires_after_thirty_days(
    invites: Invites, portal: PortalRecord, token: str, clock: MovableClock
) -> None:
    created = invites.invite(token)
    invitation = invites.invitation(created["id"])
    assert invitation.expires_at - invitation.created_at == timedelta(days=30)
    code = invites.only_code()
    clock.advance(30 * 86400 + 1)
    late = invites.verify(invites.open(code))
    assert late.status_code == 400
    assert "invitation_not_valid" in message_ids(late)
    assert invites.invitation(created["id"]).state(clock()) == "expired"


def test_revoked_invitation_stops_working(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    code = invites.only_code()
    page = invites.open(code)
    revoked = invites.client.delete(f"/api/invitations/{created['id']}", headers=_auth(token))
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    refused = invites.verify(page)
    assert refused.status_code == 400 and "invitation_not_valid" in message_ids(refused)


def test_revocation_between_steps_ends_the_flow(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    created = invites.invite(token)
    choose = invites.verified(invites.only_code())
    invites.client.delete(f"/api/invitations/{created['id']}", headers=_auth(token))
    gone = invites.create_account(choose)
    assert gone.status_code == 400
    assert "invitation_no_longer_valid" in message_ids(gone)
    assert domain_rows(invites)["accounts"] == 0


def test_a_new_invitation_kills_the_old_code(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    first = invites.invite(token)
    old = invites.only_code()
    second = invites.invite(token, email="grace.new@example.test")
    new = invites.only_code()
    assert invites.invitation(first["id"]).status == "revoked"
    assert invites.invitation(second["id"]).status == "pending"
    dead = invites.verify(invites.open(old))
    assert dead.status_code == 400 and "invitation_not_valid" in message_ids(dead)
    assert invites.create_account(invites.verified(new)).status_code == 303
    revoked = [e for e in invites.audit() if e.type == "invitation_revoked"]
    assert revoked[0].details["reason"] == "superseded"


def test_record_linked_to_another_account_is_refused_without_writes(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    holder = invites.factory.account("holder")
    with invites.services.db.transaction() as uow:
        uow.portal_links.link(holder.id, portal.id, "MRN-0042", invites.services.clock())
    created = invites.invite(token)
    choose = invites.verified(invites.only_code())
    before = domain_rows(invites)
    refused = invites.create_account(choose)
    assert refused.status_code == 409
    assert "invitation_link_conflict" in message_ids(refused)
    # Nothing half-written: no account, no link, and the invitation still waits.
    assert domain_rows(invites) == before
    assert invites.invitation(created["id"]).status == "pending"


def test_expired_step_record_asks_to_open_the_link_again(invites: Invites) -> None:
    form = invites.client.get("/activate")
    data = {"flow": "x" * 43, "dob": "1990-05-17", "zip": "02139"}
    page = invites.client.post("/activate", data={"csrf_token": csrf_token(form.text), **data})
    assert page.status_code == 400
    assert "invitation_flow_expired" in message_ids(page)


def test_dob_and_zip_format_problems_are_not_counted(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.invite(token)
    code = invites.only_code()
    page = invites.open(code)
    for _ in range(8):
        bad = invites.verify(page, dob="31/31/1990", zip="abc")
        assert bad.status_code == 400
        assert reasons(bad) == ["invitation_dob_invalid", "invitation_zip_invalid"]
    # More than the lockout limit of typing mistakes, and the right answer still works.
    ok = invites.verify(page, dob="05/17/1990", zip="02139-4307")
    assert ok.status_code == 200, ok.text[:1000]


def test_persons_made_from_invitations_stay_out_of_other_tables(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    invites.invite(token)
    invites.create_account(invites.verified(invites.only_code()))
    with invites.services.db.session() as session:
        links = session.scalars(select(models.PortalLink)).all()
    assert [(link.portal_id, link.patient_id, link.status) for link in links] == [
        (portal.id, "MRN-0042", "active")
    ]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_refused_password_keeps_the_new_accounts_other_fields(
    invites: Invites, portal: PortalRecord, token: str
) -> None:
    """Issue 14, item 6: the user ID, questions, answers and terms stay; the password and
    the step's credentials (birth date, zip) are never shown again."""
    invites.invite(token)
    refused = invites.create_account(invites.verified(invites.only_code()), password="short")
    assert refused.status_code == 400 and "too_short" in reasons(refused)
    kept = form_values(refused.text)
    assert {name: kept[name] for name in QUESTIONS} == QUESTIONS
    assert kept["username"] == "ghopper" and kept["accept_terms"] == "yes"
    assert kept["password"] == "" and 'value="short"' not in refused.text
