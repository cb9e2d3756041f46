"""Two-step verification on the account page (issue 9 items 4-6, 9): enrol an
authenticator app and a passkey, list, rename, remove, regenerate recovery codes.

Every change needs the current password, emails the patient (over real SMTP) and is
audited; passkey responses come from a software authenticator with a real key.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from idp.flows.methods.base import AccountFacts, Failed, FailureReason
from idp.policies.recovery_codes import normalise_recovery_code, recovery_code_hash
from idp.records import AccountRecord
from idp.services import Services
from idp.store.credentials import CredentialKind
from idp.store.sql import models

from ..conftest import PASSWORD, Factory
from ..helpers import message_ids
from ..mfa.soft_authenticator import SoftAuthenticator
from .conftest import FIREFOX, Browser, Mail, body, events
from .two_step import (
    code_now,
    confirm_app,
    credential_rows,
    enrol_app,
    factor_ids,
    open_app_page,
    open_passkey_page,
    post_passkey,
    recovery_codes,
)

SHORT_PASSWORD = "tangerine-97"  # 12 characters: enough with a second factor only


@pytest.fixture
def app_factory_bob(app: Flask, factory: Factory) -> tuple[Browser, AccountRecord]:
    """Bob, another patient, signed in on his own browser."""
    bob = factory.account("bob", first_name="Bob")
    b = Browser(app.test_client(), factory, user_agent=FIREFOX, ip="198.51.100.9")
    b.sign_in("bob")
    return b, bob


def authenticator(services: Services) -> SoftAuthenticator:
    method = services.second_factors.webauthn
    return SoftAuthenticator(origin=method.origin, rp_id=method.rp_id)


def kinds(services: Services, account_id: int) -> frozenset[CredentialKind]:
    with services.db.transaction() as uow:
        return uow.credentials.kinds(account_id)


def test_section_is_linked_and_off_at_first(browser: Browser) -> None:
    overview = browser.get("/account")
    assert 'href="/account/two-step"' in overview.text
    page = browser.get("/account/two-step")
    assert page.status_code == 200
    assert 'data-mfa-status="off"' in page.text


def test_authenticator_app_enrolment(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord
) -> None:
    page = open_app_page(browser)
    # The QR code is drawn here, inline, and the secret is never in a URL of another site.
    assert "<svg" in page.html and "https://" not in page.html.split("<svg", 1)[1][:2000]
    assert len(page.secret) >= 32  # 160 bits in base32

    done = confirm_app(browser, page, code=code_now(services, page.secret))
    assert done.status_code == 200
    assert "account_mfa_app_added" in message_ids(done.text)
    codes = recovery_codes(done)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(normalise_recovery_code(c) for c in codes)
    assert kinds(services, alice.id) == {CredentialKind.TOTP, CredentialKind.RECOVERY_CODE}

    # Stored sealed (not the base32 secret itself) and recovery codes only as hashes.
    with services.db.session() as session:
        rows = session.scalars(select(models.Credential)).all()
    sealed = [r.secret_ciphertext for r in rows if r.kind == "totp"]
    assert sealed and page.secret.encode() not in sealed[0]
    hashes = {r.code_hash for r in rows if r.kind == "recovery_code"}
    assert hashes == {recovery_code_hash(normalise_recovery_code(c) or "") for c in codes}

    listing = browser.get("/account/two-step")
    assert 'data-mfa-status="on"' in listing.text
    assert 'data-factor-kind="totp"' in listing.text
    assert 'data-recovery-codes-left="10"' in listing.text

    [notice] = Mail.to(mail.deliver(), alice.email or "")
    assert "two-step verification was changed" in str(notice["Subject"])
    assert "An authenticator app was added" in body(notice)
    assert page.secret not in body(notice)
    [event] = [e for e in events(services, alice.subject) if e.type == "second_factor_added"]
    assert event.details == {"kind": "totp", "first": True, "recovery_codes_issued": 10}
    assert page.secret not in str(event.details)


def test_enrolment_code_is_used_up(browser: Browser, services: Services) -> None:
    """The code that confirmed the app cannot then sign in (RFC 6238 §5.2)."""
    page, _ = enrol_app(browser, services)
    code = code_now(services, page.secret)
    account_id = browser_account(services)
    with services.db.transaction() as uow:
        facts = AccountFacts(account_id, uow.credentials.kinds(account_id))
        result = services.second_factors.totp.verify(
            facts, {"method": "totp", "code": code}, tx=uow, flow_id="f", now=services.clock()
        )
    assert result == Failed("totp", FailureReason.REPLAYED)
    # And the same pending enrolment cannot be confirmed twice.
    again = confirm_app(browser, page, code=code)
    assert again.status_code == 400
    assert "account_mfa_expired" in message_ids(again.text)


def browser_account(services: Services) -> int:
    with services.db.transaction() as uow:
        record = uow.accounts.by_username("alice")
    assert record is not None
    return record.id


@pytest.mark.parametrize(
    ("code", "message_id"),
    [
        ("000000", "account_mfa_wrong_code"),
        ("12345", "account_mfa_code_malformed"),
        ("１２３４５６", "account_mfa_code_malformed"),
        ("", "account_missing_fields"),
    ],
)
def test_wrong_app_code_keeps_nothing(
    browser: Browser, services: Services, mail: Mail, code: str, message_id: str
) -> None:
    page = open_app_page(browser)
    real = code_now(services, page.secret)
    if code == real:  # one chance in a million
        pytest.skip("the wrong code happened to be right")
    before = credential_rows(services)
    refused = confirm_app(browser, page, code=code)
    assert refused.status_code == 400
    assert message_id in message_ids(refused.text)
    # The page offers the same secret again: the app already holds it.
    assert f'data-totp-secret="{page.secret}"' in refused.text
    assert credential_rows(services) == before
    assert mail.deliver() == []
    # And a right code then still works.
    assert confirm_app(browser, page, code=real).status_code == 200


def test_app_code_from_outside_the_window_is_refused(browser: Browser, services: Services) -> None:
    page = open_app_page(browser)
    for offset in (-2, 2):
        refused = confirm_app(
            browser, page, code=code_now(services, page.secret, offset_steps=offset)
        )
        assert refused.status_code == 400, offset
    late = confirm_app(browser, page, code=code_now(services, page.secret, offset_steps=1))
    assert late.status_code == 200


def test_app_needs_the_current_password(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord
) -> None:
    page = open_app_page(browser)
    before = credential_rows(services)
    refused = confirm_app(
        browser, page, code=code_now(services, page.secret), current_password="not my password"
    )
    assert refused.status_code == 401
    assert "account_wrong_password" in message_ids(refused.text)
    assert credential_rows(services) == before
    assert mail.deliver() == []
    [event] = [e for e in events(services, alice.subject) if e.type == "reauthentication"]
    assert event.outcome == "failure"
    assert event.details == {"action": "add_authenticator_app", "reason": "invalid_credentials"}


def test_pending_enrolment_belongs_to_its_session(
    browser: Browser, phone: Browser, services: Services
) -> None:
    """A flow id seen in one browser cannot be confirmed from another session."""
    page = open_app_page(browser)
    stolen = open_app_page(phone)
    stolen.flow = page.flow
    refused = confirm_app(phone, stolen, code=code_now(services, page.secret))
    assert refused.status_code == 400
    assert "account_mfa_expired" in message_ids(refused.text)
    assert credential_rows(services) == {}


def test_csrf_is_required(browser: Browser, services: Services) -> None:
    page = open_app_page(browser)
    refused = confirm_app(browser, page, code=code_now(services, page.secret), csrf_token=None)
    assert refused.status_code == 400
    assert "csrf_failed" in message_ids(refused.text)
    assert credential_rows(services) == {}


def test_pages_need_a_signed_in_browser(anonymous: Browser) -> None:
    for path in ("/account/two-step", "/account/two-step/app", "/account/two-step/passkey"):
        response = anonymous.get(path)
        assert response.status_code in (302, 303), path
        assert "/login" in response.headers["Location"]


# --- passkeys ---------------------------------------------------------------------------------


def test_passkey_registration(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord
) -> None:
    page = open_passkey_page(browser)
    assert '"residentKey": "required"' in page.options
    assert '"userVerification": "preferred"' in page.options
    device = authenticator(services)
    done = post_passkey(browser, page, credential=device.create(page.options))
    assert done.status_code == 200, done.text[:500]
    assert "account_mfa_passkey_added" in message_ids(done.text)
    assert len(recovery_codes(done)) == 10
    listing = browser.get("/account/two-step")
    assert 'data-factor-kind="webauthn"' in listing.text and "My phone" in listing.text

    # A second passkey: no new codes (the first ones still stand), existing ones excluded.
    second = open_passkey_page(browser)
    assert "excludeCredentials" in second.options
    other = authenticator(services)
    done = post_passkey(browser, second, credential=other.create(second.options), label="Key")
    assert done.status_code == 303
    assert len(factor_ids(services, alice.id)) == 2

    notices = Mail.to(mail.deliver(), alice.email or "")
    assert [("A passkey (My phone) was added" in body(m)) for m in notices] == [True, False]


@pytest.mark.parametrize("tamper", ["foreign_origin", "garbled", "other_challenge", "empty"])
def test_bad_passkey_responses_keep_nothing(
    browser: Browser, services: Services, mail: Mail, tamper: str
) -> None:
    page = open_passkey_page(browser)
    device = authenticator(services)
    if tamper == "foreign_origin":
        response = device.create(page.options, origin="https://evil.example")
        expected = "account_mfa_passkey_refused"
    elif tamper == "garbled":
        response = '{"id": "AAAA", "rawId": "AAAA", "response": {"clientDataJSON": "%%%"}}'
        expected = "account_mfa_passkey_refused"
    elif tamper == "other_challenge":
        # A response made for another page's options (another flow's challenge).
        other = open_passkey_page(browser)
        response = device.create(other.options)
        expected = "account_mfa_passkey_refused"
    else:
        response = ""
        expected = "account_mfa_passkey_missing"
    refused = post_passkey(browser, page, credential=response)
    assert refused.status_code == 400, refused.text[:300]
    assert expected in message_ids(refused.text)
    assert credential_rows(services) == {}
    assert mail.deliver() == []


def test_passkey_challenge_is_single_use(browser: Browser, services: Services) -> None:
    page = open_passkey_page(browser)
    device = authenticator(services)
    response = device.create(page.options)
    assert post_passkey(browser, page, credential=response).status_code == 200
    replay = post_passkey(browser, page, credential=response)
    assert replay.status_code == 400
    assert "account_mfa_expired" in message_ids(replay.text)


def test_passkey_needs_the_current_password(browser: Browser, services: Services) -> None:
    page = open_passkey_page(browser)
    response = authenticator(services).create(page.options)
    refused = post_passkey(browser, page, credential=response, current_password="wrong one")
    assert refused.status_code == 401
    assert credential_rows(services) == {}


def test_passkey_page_works_without_javascript_message(browser: Browser) -> None:
    page = browser.get("/account/two-step/passkey")
    assert "<noscript>" in page.text
    assert "account_mfa_passkey_needs_js" in message_ids(page.text)
    assert '<script src="/static/passkey.js"' in page.text


# --- managing ---------------------------------------------------------------------------------


def test_rename_a_factor(browser: Browser, services: Services, alice: AccountRecord) -> None:
    enrol_app(browser, services)
    [factor] = factor_ids(services, alice.id)
    renamed = browser.submit(
        "/account/two-step/rename",
        {"credential": str(factor), "label": "  Work   phone "},
        page="/account/two-step",
    )
    assert renamed.status_code == 303
    assert "Work phone" in browser.get("/account/two-step").text
    assert "second_factor_renamed" in [e.type for e in events(services, alice.subject)]
    for bad in ("", "x" * 65, "a\x07b"):
        refused = browser.submit(
            "/account/two-step/rename",
            {"credential": str(factor), "label": bad},
            page="/account/two-step",
        )
        assert refused.status_code == 400, bad
        assert "account_mfa_label_invalid" in message_ids(refused.text)


def test_cannot_touch_another_accounts_factor(
    app_factory_bob: tuple[Browser, AccountRecord], browser: Browser, services: Services
) -> None:
    bob_browser, bob = app_factory_bob
    enrol_app(bob_browser, services)
    [factor] = factor_ids(services, bob.id)
    rename = browser.submit(
        "/account/two-step/rename",
        {"credential": str(factor), "label": "mine now"},
        page="/account/two-step",
    )
    assert rename.status_code == 404
    remove = browser.submit(
        "/account/two-step/remove",
        {"credential": str(factor), "current_password": PASSWORD},
        page="/account/two-step",
    )
    assert remove.status_code == 404
    assert browser.get(f"/account/two-step/remove?credential={factor}").status_code == 404
    assert factor_ids(services, bob.id) == [factor]


def test_remove_needs_reauthentication(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord
) -> None:
    enrol_app(browser, services)
    mail.deliver()
    [factor] = factor_ids(services, alice.id)
    page = f"/account/two-step/remove?credential={factor}"
    for password, status in (("", 400), ("wrong password here", 401)):
        refused = browser.submit(
            "/account/two-step/remove",
            {"credential": str(factor), "current_password": password},
            page=page,
        )
        assert refused.status_code == status
    without_csrf = browser.submit(
        "/account/two-step/remove", {"credential": str(factor)}, page=page, csrf=False
    )
    assert without_csrf.status_code == 400
    assert factor_ids(services, alice.id) == [factor]
    assert CredentialKind.RECOVERY_CODE in kinds(services, alice.id)
    assert mail.deliver() == []


def test_removing_the_last_factor_turns_it_off(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord
) -> None:
    enrol_app(browser, services)
    mail.deliver()
    [factor] = factor_ids(services, alice.id)
    done = browser.submit(
        "/account/two-step/remove",
        {"credential": str(factor), "current_password": PASSWORD},
        page=f"/account/two-step/remove?credential={factor}",
    )
    assert done.status_code == 303
    overview = browser.get("/account/two-step")
    assert "account_mfa_off" in message_ids(overview.text)
    assert 'data-mfa-status="off"' in overview.text
    assert kinds(services, alice.id) == frozenset()  # recovery codes went too
    [notice] = Mail.to(mail.deliver(), alice.email or "")
    assert "An authenticator app was removed" in body(notice)
    assert "your password alone now signs you in" in body(notice)
    [event] = [e for e in events(services, alice.subject) if e.type == "second_factor_removed"]
    assert event.details == {"kind": "totp", "credential": factor, "last": True}


def test_regenerate_recovery_codes(
    browser: Browser, services: Services, mail: Mail, alice: AccountRecord
) -> None:
    refused = browser.submit("/account/two-step/recovery-codes", {"current_password": PASSWORD})
    assert refused.status_code == 400
    assert "account_mfa_codes_need_factor" in message_ids(refused.text)

    _, first = enrol_app(browser, services)
    old = recovery_codes(first)
    mail.deliver()
    wrong = browser.submit("/account/two-step/recovery-codes", {"current_password": "nope nope"})
    assert wrong.status_code == 401
    done = browser.submit("/account/two-step/recovery-codes", {"current_password": PASSWORD})
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    new = recovery_codes(done)
    assert len(new) == 10 and not set(new) & set(old)
    method = services.second_factors.recovery_codes
    with services.db.transaction() as uow:
        facts = AccountFacts(alice.id, uow.credentials.kinds(alice.id))
        now = services.clock()
        old_try = method.verify(
            facts, {"method": "recovery_code", "code": old[0]}, tx=uow, flow_id="f", now=now
        )
        new_try = method.verify(
            facts, {"method": "recovery_code", "code": new[0]}, tx=uow, flow_id="f", now=now
        )
    assert isinstance(old_try, Failed) and not isinstance(new_try, Failed)
    [notice] = Mail.to(mail.deliver(), alice.email or "")
    assert "New recovery codes were made" in body(notice)
    assert new[0] not in body(notice)


# --- the password rule -------------------------------------------------------------------------


def change_password(browser: Browser, new: str) -> tuple[int, str]:
    response = browser.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "new_password_repeat": new},
    )
    return response.status_code, response.text


def test_eight_characters_suffice_once_a_factor_is_enrolled(
    browser: Browser, services: Services
) -> None:
    status, text = change_password(browser, SHORT_PASSWORD)
    assert status == 400
    assert 'data-reason="too_short"' in text and "at least 15 characters" in text
    enrol_app(browser, services)
    status, text = change_password(browser, "tang-97")
    assert status == 400
    assert 'data-reason="too_short"' in text and "at least 8 characters" in text
    status, _ = change_password(browser, SHORT_PASSWORD)
    assert status == 303


def test_activity_page_shows_two_step_changes(browser: Browser, services: Services) -> None:
    enrol_app(browser, services)
    assert "Second step added" in browser.get("/account/activity").text


def test_a_passkey_added_here_signs_in_through_the_method_helpers(
    browser: Browser, services: Services, alice: AccountRecord
) -> None:
    """What the sign-in side will call: options for an identified account, then verify,
    and discoverable sign-in (no user ID typed) with the same passkey."""
    page = open_passkey_page(browser)
    device = authenticator(services)
    assert post_passkey(browser, page, credential=device.create(page.options)).status_code == 200
    method = services.second_factors.webauthn
    with services.db.transaction() as uow:
        options = method.authentication_options(account_id=alice.id, flow_id="signin-1", tx=uow)
    with services.db.transaction() as uow:
        facts = AccountFacts(alice.id, uow.credentials.kinds(alice.id))
        result = method.verify(
            facts,
            {"method": "webauthn", "credential": device.get(options)},
            tx=uow,
            flow_id="signin-1",
            now=services.clock(),
        )
    assert not isinstance(result, Failed) and result.account_id == alice.id
    with services.db.transaction() as uow:
        options = method.authentication_options(account_id=None, flow_id="signin-2", tx=uow)
    with services.db.transaction() as uow:
        found = method.verify_discoverable(
            {"credential": device.get(options)}, tx=uow, flow_id="signin-2", now=services.clock()
        )
    assert not isinstance(found, Failed) and found.account_id == alice.id


@pytest.mark.parametrize(
    "path",
    ["/account/two-step/app", "/account/two-step/passkey", "/account/two-step/recovery-codes"],
)
def test_head_reads_like_get_and_changes_nothing(
    browser: Browser, services: Services, path: str
) -> None:
    response = browser.client.head(path)
    assert response.status_code == 200
    assert credential_rows(services) == {}
