"""Each sign-up branch end to end: exact, close with phone proof, close for staff, none.

The FAQ (portal-faqs/003): an exact match gets the user ID and the list of practices by
email; a close match may "verify by phone number"; and (portal-faqs/004) without that
proof the enrollment waits for staff review.
"""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select, update

from idp.services import Services
from idp.store.sql import models

from ..conftest import Factory
from ..helpers import OIDCActions, bearer, message_ids
from ..signup.conftest import (
    CHECK_EMAIL_IDS,
    DEMOGRAPHICS,
    PASSWORD,
    pending_registrations,
    proven_phone,
    user_id_reserved,
)
from .conftest import (
    EXISTING_PASSWORD,
    OTHER_PHONE,
    PHONE,
    PHONE_TYPED,
    MatchingActions,
    audit_events,
    code_in,
    link_portal,
    patient,
    rows,
)

CLOSE = {"zip": "02138"}  # one digit off the record's ZIP, everything else equal


def test_exact_match_mails_the_user_id_and_practices_and_creates_nothing(
    signup: MatchingActions, services: Services
) -> None:
    existing = patient(services, "grace.existing", email="Grace@Example.test")
    link_portal(services, existing, "Northside Pediatrics")
    link_portal(services, existing, "Riverside Oncology", listed=False)  # sensitive: hidden
    link_portal(services, existing, "Lakeside Dermatology", status="revoked")
    link_portal(services, existing, "Hillside Family Care", status="invited")
    before = rows(services)

    done = signup.sign_up()
    assert done.status_code == 200
    assert message_ids(done.text) == CHECK_EMAIL_IDS

    after = rows(services)
    assert {k: after[k] - before[k] for k in after} == {
        "accounts": 0,
        "persons": 0,
        "security_answers": 0,
        "action_tokens": 0,
        "enrollments": 0,
        "keys": 0,
        "outbox": 1,
    }
    [mail] = signup.deliver()
    assert mail["To"] == "Grace@Example.test"  # the verified address on file, as stored
    assert "you already have an account" in mail["Subject"]
    text = signup.body(mail)
    assert "User ID: grace.existing" in text.replace("Your user ID", "User ID")
    assert "Northside Pediatrics" in text
    for hidden in ("Riverside Oncology", "Lakeside Dermatology", "Hillside Family Care"):
        assert hidden not in text
        assert hidden not in mail.as_string()
    assert "ghopper" not in text  # nothing the requester typed
    assert services.settings.issuer + "/forgot-password" in text
    [event] = [e for e in audit_events(services) if e.details["step"] == "credentials"]
    assert event.details == {"step": "credentials", "reason": "existing_account", "match": "exact"}
    assert event.subject == existing.subject


def test_exact_match_without_listed_practices_sends_no_list(
    signup: MatchingActions, services: Services
) -> None:
    existing = patient(services, "grace.existing")
    link_portal(services, existing, "Riverside Oncology", listed=False)
    signup.sign_up()
    [mail] = signup.deliver()
    text = signup.body(mail)
    assert "grace.existing" in text
    assert "medical practices" not in text and "Riverside" not in text


def test_close_match_with_the_phone_on_record_is_told_it_has_an_account(
    signup: MatchingActions, services: Services
) -> None:
    existing = patient(services, "grace.existing")
    done = signup.sign_up(demographics=CLOSE)
    assert message_ids(done.text) == CHECK_EMAIL_IDS
    [review_note] = signup.deliver()
    assert "being reviewed" in review_note["Subject"]
    assert review_note["To"] == DEMOGRAPHICS["email"]

    flow_id = signup.phone_step(done)
    sent = signup.send_code(flow_id, PHONE_TYPED)
    assert sent.status_code == 200 and message_ids(sent.text) == ["signup_phone_code_sent"]
    [text] = signup.texts()
    assert text["to"] == PHONE
    proven = signup.confirm_code(flow_id, code_in(text))
    assert proven.status_code == 200
    assert message_ids(proven.text) == ["signup_existing_account"]
    assert 'href="/login"' in proven.text and 'href="/forgot-user-id"' in proven.text
    assert "grace.existing" not in proven.text  # the user ID goes by email, on request

    with services.db.transaction() as uow:
        assert uow.accounts.by_username("ghopper") is None  # no duplicate
        [enrollment] = uow.enrollments.list(status=None)
    assert enrollment.status == "withdrawn"
    assert enrollment.decided_by == "applicant:phone"
    assert "password_hash" not in enrollment.data and "answers" not in enrollment.data
    [event] = [e for e in audit_events(services) if e.details["step"] == "phone_verified"]
    assert event.details["reason"] == "existing_account" and event.details["match"] == "close"
    assert event.subject == existing.subject
    # The existing patient signs in as always.
    assert signup.login("grace.existing", EXISTING_PASSWORD).status_code == 303


def test_close_match_declined_waits_for_staff_who_approve(
    signup: MatchingActions, services: Services, cli
) -> None:
    existing = patient(services, "grace.existing")
    before = rows(services)
    done = signup.sign_up(demographics=CLOSE)
    assert message_ids(done.text) == CHECK_EMAIL_IDS
    after = rows(services)
    assert {k: after[k] - before[k] for k in after} == {
        "accounts": 0,
        "persons": 0,
        "security_answers": 0,
        "action_tokens": 0,
        "enrollments": 1,
        "keys": 0,
        "outbox": 1,
    }
    [note] = signup.deliver()
    assert note["To"] == DEMOGRAPHICS["email"]
    text = signup.body(note)
    assert "enrollment staff" in text and "3-5 business days" in text
    assert "grace.existing" not in note.as_string()  # nothing about the matched account

    with services.db.transaction() as uow:
        [pending] = uow.enrollments.list()
    assert pending.candidate_account_id == existing.id
    assert pending.data["username"] == "ghopper"
    assert pending.data["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in repr(pending.data)
    assert all(a["answer_hash"].startswith("$argon2id$") for a in pending.data["answers"])

    plain = cli("enrollments", "list").output
    assert f"#{pending.id}  pending" in plain and "resembles grace.existing" in plain
    listed = cli("enrollments", "list", "--json")
    [row] = listed
    assert row["id"] == pending.id and row["candidate"]["username"] == "grace.existing"
    assert "first_name_exact" in row["match_reasons"] and "zip_typo" in row["match_reasons"]
    assert "password_hash" not in repr(row)

    approved = cli(
        "enrollments", "approve", str(pending.id), "--staff", "Dana Reviewer",
        "--reason", "called the patient back", "--json",
    )  # fmt: skip
    assert approved["status"] == "approved" and approved["account"]["username"] == "ghopper"
    [mail] = signup.deliver()
    assert mail["To"] == DEMOGRAPHICS["email"]
    assert "complete your enrollment" in mail["Subject"]
    with services.db.transaction() as uow:
        # Approval still makes a pending account (see idp.flows.enrollments).
        account = uow.accounts.by_username("ghopper")
        assert account is not None and account.status == "pending"
        assert len(uow.security_answers.for_account(account.id)) == 3
        decided = uow.enrollments.get(pending.id)
    assert decided is not None and decided.account_id == account.id
    assert decided.decided_by == "staff:Dana Reviewer"
    assert "password_hash" not in decided.data
    assert message_ids(signup.confirm(signup.link(mail)).text) == ["signup_verified"]
    assert signup.login("ghopper", PASSWORD).status_code == 303
    [event] = audit_events(services, "enrollment_approved")
    assert event.actor == "staff:Dana Reviewer" and event.subject == account.subject
    assert event.details == {
        "enrollment_id": pending.id,
        "reason": "called the patient back",
        "operation": "enrollment_approve",
        "staff_role": "admin",
    }


def test_close_match_rejected_by_staff(signup: MatchingActions, services: Services, cli) -> None:
    patient(services, "grace.existing")
    signup.sign_up(demographics=CLOSE)
    signup.deliver()
    with services.db.transaction() as uow:
        [pending] = uow.enrollments.list()
    cli("enrollments", "reject", str(pending.id), "--staff", "Dana", code=2)  # reason required
    rejected = cli(
        "enrollments", "reject", str(pending.id), "--staff", "Dana",
        "--reason", "duplicate of grace.existing", "--json",
    )  # fmt: skip
    assert rejected["status"] == "rejected"
    [mail] = signup.deliver()
    assert mail["To"] == DEMOGRAPHICS["email"] and "about your enrollment" in mail["Subject"]
    assert "duplicate" not in mail.as_string()  # the staff reason stays internal
    with services.db.transaction() as uow:
        assert uow.accounts.by_username("ghopper") is None
    # Decided once: neither a second rejection nor an approval goes through.
    cli("enrollments", "approve", str(pending.id), "--staff", "Dana", code=2)
    [event] = audit_events(services, "enrollment_rejected")
    assert event.actor == "staff:Dana" and event.details["reason"] == "duplicate of grace.existing"


def test_close_match_with_another_proven_phone_stays_for_staff_and_keeps_the_phone(
    signup: MatchingActions, services: Services, cli
) -> None:
    patient(services, "grace.existing")
    done = signup.sign_up(demographics=CLOSE)
    flow_id = signup.phone_step(done)
    signup.send_code(flow_id, OTHER_PHONE)
    confirmed = signup.confirm_code(flow_id, signup.code())
    assert message_ids(confirmed.text) == ["signup_phone_done"]
    with services.db.transaction() as uow:
        [pending] = uow.enrollments.list()
    assert pending.status == "pending" and pending.data["phone_verified"] == OTHER_PHONE
    cli("enrollments", "approve", str(pending.id), "--staff", "Dana")
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
    assert account is not None and account.phone == OTHER_PHONE and account.phone_verified


def test_approval_with_a_taken_user_id_needs_another(
    signup: MatchingActions, services: Services, cli
) -> None:
    patient(services, "grace.existing")
    signup.sign_up(demographics=CLOSE)
    with services.db.transaction() as uow:
        [pending] = uow.enrollments.list()
    patient(services, "GHOPPER", email="rival@example.test", first_name="Gus", index=False)
    cli("enrollments", "approve", str(pending.id), "--staff", "Dana", code=2)
    with services.db.transaction() as uow:
        assert uow.enrollments.get(pending.id).status == "pending"  # type: ignore[union-attr]
    approved = cli(
        "enrollments", "approve", str(pending.id), "--staff", "Dana",
        "--username", "grace.h", "--json",
    )  # fmt: skip
    assert approved["account"]["username"] == "grace.h"


def test_no_match_creates_the_account_once_the_link_is_opened_and_verifies_the_phone(
    signup: MatchingActions, services: Services
) -> None:
    patient(services, "someone.else", email="else@example.test", first_name="Ada",
            last_name="Lovelace", phone="+16175550177")  # fmt: skip
    before = rows(services)
    done = signup.sign_up()
    assert message_ids(done.text) == CHECK_EMAIL_IDS
    flow_id = signup.phone_step(done)
    signup.send_code(flow_id, PHONE_TYPED)
    confirmed = signup.confirm_code(flow_id, signup.code())
    assert confirmed.status_code == 200 and message_ids(confirmed.text) == ["signup_phone_done"]
    # Nothing in SQL yet: the proven phone waits with the pending registration.
    after = rows(services)
    assert {k: after[k] - before[k] for k in after if k != "outbox"} == {
        "accounts": 0,
        "persons": 0,
        "security_answers": 0,
        "action_tokens": 0,
        "enrollments": 0,
        "keys": 0,
    }
    assert proven_phone(services) == PHONE
    [mail] = signup.deliver()
    assert message_ids(signup.confirm(signup.link(mail)).text) == ["signup_verified"]
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
        assert account is not None and account.status == "active" and account.email_verified
        assert account.phone == PHONE and account.phone_verified
        assert account.person is not None
        keys = uow.candidates.keys_of(account.person.id)
    assert 6 <= len(keys) <= 9  # email, phone, dz, df, dl, dn, zn, di, zi
    assert pending_registrations(services) == [] and not user_id_reserved(services, "ghopper")
    assert signup.login("ghopper", PASSWORD).status_code == 303
    credentials = [e for e in audit_events(services) if e.details["step"] == "credentials"]
    assert credentials[-1].details == {"step": "credentials", "reason": "pending", "match": "none"}
    assert credentials[-1].subject is None  # no account yet
    [verified] = [e for e in audit_events(services) if e.details["step"] == "verify"]
    assert verified.subject == account.subject


def test_a_phone_proven_after_the_link_goes_on_the_account(
    signup: MatchingActions, services: Services
) -> None:
    done = signup.sign_up()
    flow_id = signup.phone_step(done)
    signup.send_code(flow_id, PHONE_TYPED)
    code = signup.code()
    [mail] = signup.deliver()
    assert message_ids(signup.confirm(signup.link(mail)).text) == ["signup_verified"]
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
    assert account is not None and account.phone is None
    confirmed = signup.confirm_code(flow_id, code)
    assert message_ids(confirmed.text) == ["signup_phone_done"]
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("ghopper")
        assert account is not None and account.phone == PHONE and account.phone_verified
        assert account.person is not None
        keys = uow.candidates.keys_of(account.person.id)
    assert len(keys) == 9  # the phone's key added
    [event] = [e for e in audit_events(services) if e.details["step"] == "phone_verified"]
    assert event.subject == account.subject


def test_close_match_holds_the_user_id_and_approval_releases_it(
    signup: MatchingActions,
    services: Services,
    client: FlaskClient,
    oidc: OIDCActions,
    factory: Factory,
) -> None:
    patient(services, "grace.existing")
    signup.sign_up(demographics=CLOSE)
    assert user_id_reserved(services, "ghopper")
    with services.db.transaction() as uow:
        [pending] = uow.enrollments.list()
    rp = factory.client(scope="openid idp:admin")
    token = oidc.token(rp, {"grant_type": "client_credentials", "scope": "idp:admin"})
    approved = client.post(
        f"/api/admin/enrollments/{pending.id}/approve",
        json={"staff": "Dana"},
        headers=bearer(token.get_json()["access_token"]),
    )
    assert approved.status_code == 200, approved.text
    assert not user_id_reserved(services, "ghopper")  # the account row holds it now
    # A pending account made by approval: the one path that still answers so.
    refused = signup.login("ghopper", PASSWORD)
    assert refused.status_code == 403 and message_ids(refused.text) == ["email_not_verified"]


def test_a_new_account_is_found_by_the_next_sign_up(
    signup: MatchingActions, services: Services
) -> None:
    """Sign-up indexes the person it creates: the same details again are an exact match."""
    signup.sign_up()
    signup.confirm(signup.link(signup.deliver()[0]))
    signup.sign_up(username="ghopper2")
    [mail] = signup.deliver()
    assert "you already have an account" in mail["Subject"]
    assert "ghopper" in signup.body(mail)


def test_closed_accounts_are_not_matched(signup: MatchingActions, services: Services) -> None:
    existing = patient(services, "grace.existing")
    with services.db.session() as session:
        session.execute(
            update(models.Account).where(models.Account.id == existing.id).values(status="closed")
        )
    signup.sign_up(username="ghopper")
    [mail] = signup.deliver()
    assert "confirm your email address" in mail["Subject"]  # a plain new sign-up


def test_office_made_account_is_indexed_by_the_cli(
    signup: MatchingActions, services: Services, cli
) -> None:
    cli(
        "users", "add", "--username", "office.grace", "--password", "x" * 20,
        "--email", DEMOGRAPHICS["email"], "--first-name", "Grace", "--last-name", "Hopper",
        "--dob", DEMOGRAPHICS["dob"], "--zip", DEMOGRAPHICS["zip"], "--gender", "F",
        "--phone", PHONE_TYPED, raw=True,
    )  # fmt: skip
    with services.db.session() as session:
        person_id = session.scalar(select(models.Account.person_id))
        keys = session.scalars(
            select(models.PersonBlockingKey.key).where(
                models.PersonBlockingKey.person_id == person_id
            )
        ).all()
    assert len(keys) == 9
    signup.sign_up()
    [mail] = signup.deliver()
    assert "office.grace" in signup.body(mail)
