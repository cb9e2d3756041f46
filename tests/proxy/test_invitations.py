"""An adult patient invites a representative by email from "Who can see my record"; the
invitee accepts through the emailed single-use link, signed in. Mail goes over real SMTP;
bad input and refused acceptances change nothing (the link stays usable)."""

from __future__ import annotations

import re

from flask import Flask

from idp.records import PortalRecord
from tests.account.conftest import FIREFOX, Browser

from .conftest import Practice, text_of

LINK = re.compile(r"http://[^\s]+/account/proxy/accept/([A-Za-z0-9_-]+)")


def _browser(app: Flask, practice: Practice, username: str) -> Browser:
    browser = Browser(app.test_client(), practice.factory, user_agent=FIREFOX, ip="198.51.100.7")
    browser.sign_in(username)
    return browser


def _ada(practice: Practice, northside: PortalRecord) -> None:
    ada = practice.parent("ada", age=70, first_name="Ada")
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(ada.id, northside.id, "MRN-ADA", practice.services.clock())


def _invite(browser: Browser, **fields: str) -> object:
    form = {"portal": "northside", "relationship": "other", "email": "charles@example.test"}
    return browser.submit("/account/proxy/invite", {**form, **fields}, page="/account/proxy")


def _token(practice: Practice) -> str:
    (mail,) = practice.mail()
    assert mail["To"] == "charles@example.test"
    assert mail["Subject"] == "Ada Hopper invites you to act for them at Northside Pediatrics"
    found = LINK.search(text_of(mail))
    assert found is not None
    return found.group(1)


def test_adult_invites_a_representative_who_accepts(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    _ada(practice, northside)
    charles_account = practice.parent("charles", age=45, first_name="Charles")
    ada = _browser(app, practice, "ada")
    page = ada.get("/account/proxy")
    assert 'action="/account/proxy/invite"' in page.text
    sent = _invite(ada)
    assert sent.status_code == 303  # type: ignore[attr-defined]
    token = _token(practice)
    (event,) = practice.audit("proxy_invited")
    assert event.details == {"portal": "northside", "relationship": "other"}
    assert "charles" not in str(event.details)  # the address stays out of the trail

    # Opened before signing in: the invitation is shown, with sign-in and sign-up links.
    anonymous = app.test_client().get(f"/account/proxy/accept/{token}")
    assert anonymous.status_code == 200
    assert "Ada invites you to act for them at" in " ".join(anonymous.text.split())
    assert 'href="/signup"' in anonymous.text and "Accept</button>" not in anonymous.text

    charles = _browser(app, practice, "charles")
    shown = charles.get(f"/account/proxy/accept/{token}")
    assert shown.status_code == 200 and "Accept</button>" in shown.text
    accepted = charles.submit(
        f"/account/proxy/accept/{token}", {}, page=f"/account/proxy/accept/{token}"
    )
    assert accepted.status_code == 303
    held = charles.get("/account/proxy")
    assert 'data-message-id="proxy_accepted"' in held.text
    assert "Ada Hopper at Northside Pediatrics" in held.text

    with practice.services.db.transaction() as uow:
        (grant,) = uow.proxy_grants.for_representative(charles_account.id)
    view = practice.flow().get(grant.id)
    assert (view.grant.status, view.grant.kind, view.decision.level.value) == (
        "active",
        "patient",
        "adult",
    )
    mails = {m["To"]: m["Subject"] for m in practice.mail()}
    assert mails == {
        "ada@example.test": "Proxy access granted at Northside Pediatrics",
        "charles@example.test": "Proxy access granted at Northside Pediatrics",
    }
    assert practice.audit("proxy_granted")[-1].details["via"] == "invitation"

    # Single use: the link is spent, for anyone.
    practice.parent("mallory", age=30, first_name="Mallory")
    mallory = _browser(app, practice, "mallory")
    assert mallory.get(f"/account/proxy/accept/{token}").status_code == 404
    again = mallory.submit(f"/account/proxy/accept/{token}", {}, page="/account/proxy")
    assert again.status_code == 404
    assert 'data-message-id="invitation_invalid"' in again.text
    assert practice.mail() == []


def test_under_18_invitee_is_refused_and_the_link_stays_usable(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    _ada(practice, northside)
    practice.parent("kid", age=17, first_name="Kid")
    practice.parent("charles", age=45, first_name="Charles")
    _invite(_browser(app, practice, "ada"))
    token = _token(practice)
    before = practice.rows()

    kid = _browser(app, practice, "kid")
    refused = kid.submit(
        f"/account/proxy/accept/{token}", {}, page=f"/account/proxy/accept/{token}"
    )
    assert refused.status_code == 400
    assert 'data-message-id="representative_under_age"' in refused.text
    assert practice.rows() == before
    assert practice.mail() == []

    # Ada herself cannot take it either.
    ada = _browser(app, practice, "ada")
    own = ada.submit(f"/account/proxy/accept/{token}", {}, page=f"/account/proxy/accept/{token}")
    assert own.status_code == 400
    assert practice.rows() == before

    charles = _browser(app, practice, "charles")
    ok = charles.submit(f"/account/proxy/accept/{token}", {}, page=f"/account/proxy/accept/{token}")
    assert ok.status_code == 303
    assert practice.rows()["proxy_grants"] == before["proxy_grants"] + 1


def test_bad_invitations_send_nothing(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    _ada(practice, northside)
    practice.portal("southside", "Southside Clinic")  # Ada has no record there
    ada = _browser(app, practice, "ada")
    before = practice.rows()
    cases = [
        ({"email": "not-an-address"}, 400),
        ({"email": "a@b.test\r\nBcc: x@y.test"}, 400),
        ({"email": "ada@example.test"}, 400),  # herself
        ({"relationship": "overlord"}, 400),
        ({"portal": "southside"}, 400),
        ({"portal": "nowhere"}, 400),
        ({"portal": "x" * 500}, 400),
    ]
    for fields, status in cases:
        response = _invite(ada, **fields)
        assert response.status_code == status, fields  # type: ignore[attr-defined]
        assert 'data-message-id="proxy_invite_refused"' in response.text  # type: ignore[attr-defined]
    assert practice.rows() == before
    assert practice.audit("proxy_invited") == []
    assert practice.mail() == []
    # Garbage tokens are a 4xx, never a 500 (a NUL byte is refused app-wide with 400).
    for token, status in [("x", 404), ("%00" * 30, 400), ("a" * 64, 404), ("a" * 200, 404)]:
        assert ada.get(f"/account/proxy/accept/{token}").status_code == status


def test_minor_cannot_invite_online(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    teen = practice.parent("sam", age=16, first_name="Sam")
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(teen.id, northside.id, "MRN-SAM", practice.services.clock())
    practice.parent("charles", age=45)
    response = _invite(_browser(app, practice, "sam"))
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert 'data-message-id="proxy_patient_not_adult"' in response.text  # type: ignore[attr-defined]
    assert practice.mail() == []


def test_patient_renews_from_the_page(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    _ada(practice, northside)
    practice.parent("charles", age=45, first_name="Charles")
    ada = _browser(app, practice, "ada")
    _invite(ada)
    token = _token(practice)
    charles = _browser(app, practice, "charles")
    charles.submit(f"/account/proxy/accept/{token}", {}, page=f"/account/proxy/accept/{token}")
    practice.mail()
    page = ada.get("/account/proxy")
    grant_id = re.search(r'data-grant="(\d+)" data-status="active"', page.text).group(1)  # type: ignore[union-attr]
    assert "for 18 months from today</button>" in page.text
    # The representative's page has no renew button, and a forged renewal is a 404.
    assert "Renew" not in charles.get("/account/proxy").text
    forged = charles.submit("/account/proxy/renew", {"grant": grant_id}, page="/account/proxy")
    assert forged.status_code == 404
    assert practice.mail() == []
    renewed = ada.submit("/account/proxy/renew", {"grant": grant_id}, page="/account/proxy")
    assert renewed.status_code == 303
    assert 'data-message-id="proxy_renewed"' in ada.get("/account/proxy").text
    assert {m["To"] for m in practice.mail()} == {"ada@example.test", "charles@example.test"}


def test_invitations_are_limited_per_day(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    _ada(practice, northside)
    ada = _browser(app, practice, "ada")
    for n in range(10):
        assert _invite(ada, email=f"friend{n}@example.test").status_code == 303  # type: ignore[attr-defined]
    assert len(practice.mail()) == 10
    before = practice.rows()
    limited = _invite(ada, email="one.more@example.test")
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert 'data-message-id="proxy_invite_limit"' in limited.text  # type: ignore[attr-defined]
    assert practice.rows() == before
    assert practice.mail() == []
