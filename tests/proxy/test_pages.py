""" "Who can see my record" and "People I can act for": either side ends a grant from
the account area (CSRF, 303 back with a notice); a stranger's POST is a 404 that changes
nothing."""

from __future__ import annotations

from flask import Flask

from idp.records import PortalRecord, RequestMeta
from tests.account.conftest import FIREFOX, Browser

from .conftest import Practice


def _browser(app: Flask, practice: Practice, username: str) -> Browser:
    browser = Browser(app.test_client(), practice.factory, user_agent=FIREFOX, ip="198.51.100.7")
    browser.sign_in(username)
    return browser


def _grant(practice: Practice, northside: PortalRecord) -> int:
    ada = practice.parent("ada", age=70, first_name="Ada")
    practice.parent("charles", age=45, first_name="Charles")
    practice.parent("mallory", age=30, first_name="Mallory")
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(ada.id, northside.id, "MRN-ADA", practice.services.clock())
    view = practice.flow().grant_by_patient(
        ada, northside, representative="charles", relationship="other", meta=RequestMeta()
    )
    practice.mail()
    return view.grant.id


def test_patient_sees_and_ends_a_grant(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    grant_id = _grant(practice, northside)
    ada = _browser(app, practice, "ada")
    page = ada.get("/account/proxy")
    assert page.status_code == 200
    assert f'data-grant="{grant_id}" data-status="active"' in page.text
    assert "charles, your representative, at Northside Pediatrics" in page.text

    charles = _browser(app, practice, "charles")
    held = charles.get("/account/proxy")
    assert "People I can act for" in held.text and "Ada Hopper at Northside" in held.text

    # A stranger cannot end it (404, nothing changes, nobody is emailed).
    mallory = _browser(app, practice, "mallory")
    refused = mallory.submit(
        "/account/proxy/revoke", {"grant": str(grant_id)}, page="/account/proxy"
    )
    assert refused.status_code == 404
    assert practice.flow().get(grant_id).grant.status == "active"
    assert practice.mail() == []

    ended = ada.submit("/account/proxy/revoke", {"grant": str(grant_id)}, page="/account/proxy")
    assert ended.status_code == 303
    page = ada.get("/account/proxy")
    assert 'data-message-id="proxy_revoked"' in page.text
    assert f'data-grant="{grant_id}" data-status="revoked"' in page.text
    assert {m["To"] for m in practice.mail()} == {"ada@example.test", "charles@example.test"}


def test_representative_ends_a_grant_without_csrf_is_refused(
    app: Flask, practice: Practice, northside: PortalRecord
) -> None:
    grant_id = _grant(practice, northside)
    charles = _browser(app, practice, "charles")
    forged = charles.submit(
        "/account/proxy/revoke", {"grant": str(grant_id)}, page="/account/proxy", csrf=False
    )
    assert forged.status_code == 400
    assert practice.flow().get(grant_id).grant.status == "active"
    ended = charles.submit("/account/proxy/revoke", {"grant": str(grant_id)}, page="/account/proxy")
    assert ended.status_code == 303
    assert practice.flow().get(grant_id).grant.status == "revoked"
    assert (
        practice.audit("proxy_revoked")[-1].actor
        == practice.flow().get(grant_id).representative_subject
    )
