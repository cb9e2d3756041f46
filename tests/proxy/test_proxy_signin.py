"""Signing in as a representative (issue 10 items 5, 6 and 9): the "whose record" picker,
the tokens of a proxy session decoded as a portal and a resource server see them, and the
audit trail both people see on their account pages.

A parent (Grace, with her own record at the practice) acts for her child Tim (a person
without an account). The practice's clock is the test's :class:`MovableClock`: moving it
past Tim's 13th birthday makes the next refresh teen-limited, past his 18th the refresh is
refused, without any job running in between.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.records import ClientRecord, PortalRecord, RequestMeta
from tests.account.conftest import FIREFOX, Browser
from tests.helpers import AuthRequest, OIDCActions, csrf_token, jwt_claims, query

from .conftest import Practice

RESTRICTED = (
    "patient/Observation.rs",
    "patient/MedicationRequest.rs",
    "patient/DocumentReference.rs",
)
TEEN_OK = ("patient/Immunization.rs", "patient/AllergyIntolerance.rs", "patient/Appointment.c")
SCOPE = " ".join(("openid", "profile", "launch/patient", "offline_access", *RESTRICTED, *TEEN_OK))
DAY = 86400


def turning_in(years: int, days: int) -> str:
    """A birth date on which someone turns ``years`` in ``days`` days (UTC calendar)."""
    soon = datetime.now(UTC).date() + timedelta(days=days)
    try:
        return soon.replace(year=soon.year - years).isoformat()
    except ValueError:  # 29 February
        return date(soon.year - years, 3, 1).isoformat()


class Family:
    """Grace (own record MRN-GRACE), her child Tim (MRN-7, no account), a portal client."""

    def __init__(self, practice: Practice, portal: PortalRecord, ehr: str, admin: str) -> None:
        self.practice = practice
        self.portal = portal
        self.ehr = ehr
        self.admin = admin
        self.grace = practice.parent("grace", age=40)
        with practice.services.db.transaction() as uow:
            uow.portal_links.link(self.grace.id, portal.id, "MRN-GRACE", practice.services.clock())
        self.rp: ClientRecord = practice.factory.client(
            name="Northside portal",
            scope=SCOPE,
            grant_types=["authorization_code", "refresh_token"],
            portal_id=portal.id,
            first_party=True,
        )

    def child(self, dob: str, patient_id: str = "MRN-7", **grant: Any) -> int:
        added = self.practice.add_patient(self.ehr, patient_id=patient_id, dob=dob)
        assert added.status_code == 201, added.text
        response = self.practice.grant(self.admin, patient_id=patient_id, **grant)
        assert response.status_code == 201, response.text
        self.practice.mail()
        return int(response.get_json()["id"])

    def person_id(self, patient_id: str = "MRN-7") -> int:
        with self.practice.services.db.transaction() as uow:
            patient = uow.patients.find(self.portal, patient_id)
            assert patient is not None and patient.person is not None
            return patient.person.id


@pytest.fixture
def family(practice: Practice, northside: PortalRecord, ehr: str, admin: str) -> Family:
    return Family(practice, northside, ehr, admin)


@pytest.fixture
def oidc(app: Flask, practice: Practice) -> OIDCActions:
    return OIDCActions(app.test_client(), practice.factory)


def to_picker(oidc: OIDCActions, req: AuthRequest, username: str = "grace") -> str:
    """Authorize, sign in; return the picker's location (the browser is sent there)."""
    response = oidc.authorize(req)
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    response = oidc.login(response.headers["Location"], username=username)
    assert response.status_code == 303, response.text
    response = oidc.client.get(response.headers["Location"])  # resume
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    assert location == "/login/choose", location
    return location


def choose(oidc: OIDCActions, patient: str, *, csrf: bool = True) -> Any:
    page = oidc.client.get("/login/choose")
    assert page.status_code == 200, page.text
    data = {"patient": patient}
    if csrf:
        data["csrf_token"] = csrf_token(page.text)
    return oidc.client.post("/login/choose", data=data)


def code_after(oidc: OIDCActions, response: Any, req: AuthRequest) -> str:
    """Follow the provider's own redirects to the portal's callback; return the code."""
    for _ in range(5):
        location = response.headers.get("Location", "")
        if location.startswith("http"):
            params = query(location)
            assert params.get("state") == req.state, params
            return params["code"]
        assert response.status_code in (302, 303), response.text
        response = oidc.client.get(location)
    raise AssertionError("no code")


def proxy_tokens(oidc: OIDCActions, family: Family, patient: str = "MRN-7") -> dict[str, Any]:
    req = oidc.request(family.rp, scope=SCOPE)
    to_picker(oidc, req)
    code = code_after(oidc, choose(oidc, patient), req)
    response = oidc.exchange(family.rp, req, code)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.get_json()
    tokens["nonce"] = req.nonce
    return tokens


def introspect(oidc: OIDCActions, family: Family, token: str) -> dict[str, Any]:
    response = oidc.introspect(family.rp, token)
    assert response.status_code == 200, response.text
    return response.get_json()  # type: ignore[no-any-return]


def test_picker_lists_self_and_each_child_as_patient_buttons(
    oidc: OIDCActions, family: Family
) -> None:
    family.child(turning_in(13, 2))
    to_picker(oidc, oidc.request(family.rp, scope=SCOPE))
    page = oidc.client.get("/login/choose")
    assert page.status_code == 200
    assert 'name="patient" value="MRN-GRACE"' in page.text
    assert 'name="patient" value="MRN-7"' in page.text
    assert 'data-level="full"' in page.text
    assert page.text.count('type="submit" name="patient"') == 2


def test_proxy_session_tokens_then_teen_limit_then_full_then_majority(
    oidc: OIDCActions, family: Family, practice: Practice, clock: Any
) -> None:
    grant_id = family.child(turning_in(13, 2))
    person = family.person_id()
    tokens = proxy_tokens(oidc, family)

    # The ID token: `sub` stays the representative; the patient is the practice's MRN.
    id_token = oidc.id_token(tokens["id_token"], family.rp, nonce=tokens["nonce"]).claims
    assert id_token["sub"] == family.grace.subject
    assert id_token["patient_id"] == "MRN-7"
    assert id_token["proxy"] == {"relationship": "parent", "level": "full"}
    assert "fhirUser" not in id_token  # the practice supplied no RelatedPerson
    # The token response: SMART's patient, and every scope (a child: full access).
    assert tokens["patient"] == "MRN-7"
    assert set(tokens["scope"].split()) == set(SCOPE.split())
    # Introspection: the token is about the patient, used by the representative (RFC 8693).
    seen = introspect(oidc, family, tokens["access_token"])
    assert seen["active"] is True
    assert seen["act"] == {"sub": family.grace.subject}
    assert seen["sub"] not in (family.grace.subject, f"person:{person}", "")
    child_sub = seen["sub"]
    # UserInfo: the representative's own claims, the chosen patient's MRN.
    info = oidc.userinfo(tokens["access_token"]).get_json()
    assert info["sub"] == family.grace.subject and info["patient_id"] == "MRN-7"
    assert info["name"] == "Grace Hopper"

    # Past the 13th birthday (no job ran): the refresh is cut to the limited-teen level.
    clock.advance(3 * DAY)
    refreshed = oidc.refresh(family.rp, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    teen = refreshed.get_json()
    granted = set(teen["scope"].split())
    assert granted.isdisjoint(RESTRICTED)
    assert set(TEEN_OK) <= granted and {"openid", "launch/patient"} <= granted
    assert teen["patient"] == "MRN-7"
    seen = introspect(oidc, family, teen["access_token"])
    assert set(seen["scope"].split()) == granted
    assert seen["sub"] == child_sub and seen["act"] == {"sub": family.grace.subject}
    # Its refresh token says the same: the patient, the actor, the scopes of the level now.
    family_token = introspect(oidc, family, teen["refresh_token"])
    assert family_token["token_type"] == "refresh_token"
    assert family_token["sub"] == child_sub and family_token["act"] == seen["act"]
    assert set(family_token["scope"].split()) == granted

    # The teen signs for full access and staff approve: the next refresh has it all again.
    practice.flow().approve(
        grant_id, staff="Nurse Joy", actor="staff:Nurse Joy", meta=RequestMeta(), teen_signed=True
    )
    full = oidc.refresh(family.rp, teen["refresh_token"])
    assert full.status_code == 200, full.text
    assert set(full.get_json()["scope"].split()) == set(SCOPE.split())

    # Audit: the choice, the proxy sign-in and each token name Grace and Tim.
    for event in ("record_chosen", "proxy_signin", "token_issued", "token_refreshed"):
        rows = [e for e in practice.audit(event) if e.actor == family.grace.subject]
        assert rows, event
        assert {e.subject for e in rows} == {f"person:{person}"}, event
    levels = [e.details["level"] for e in practice.audit("token_refreshed")]
    assert levels == ["teen_limited", "teen_full"]


def test_refresh_after_the_18th_birthday_is_invalid_grant(
    oidc: OIDCActions, family: Family, clock: Any
) -> None:
    family.child(turning_in(18, 2))
    tokens = proxy_tokens(oidc, family)
    assert set(tokens["scope"].split()).isdisjoint(RESTRICTED)  # a teen: limited
    id_token = jwt_claims(tokens["id_token"])
    assert id_token["proxy"] == {"relationship": "parent", "level": "teen_limited"}

    clock.advance(3 * DAY)
    refused = oidc.refresh(family.rp, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_grant"
    assert "proxy" in refused.get_json()["error_description"]
    # The access token issued before stops working at once (no waiting for its expiry).
    assert introspect(oidc, family, tokens["access_token"]) == {"active": False}
    assert introspect(oidc, family, tokens["refresh_token"]) == {"active": False}
    assert oidc.userinfo(tokens["access_token"]).status_code == 401

    # A new sign-in (the session timed out meanwhile) offers no proxy choice: Grace's own
    # record only, so no picker.
    req = oidc.request(family.rp, scope=SCOPE)
    response = oidc.login(oidc.authorize(req).headers["Location"], username="grace")
    code = code_after(oidc, response, req)
    own = oidc.exchange(family.rp, req, code).get_json()
    claims = jwt_claims(own["id_token"])
    assert claims["patient_id"] == "MRN-GRACE" and "proxy" not in claims
    assert own["patient"] == "MRN-GRACE"


def test_related_person_becomes_fhir_user(oidc: OIDCActions, family: Family) -> None:
    family.child(turning_in(13, 200), related_person="rp-grace-1")
    claims = jwt_claims(proxy_tokens(oidc, family)["id_token"])
    assert claims["fhirUser"] == "RelatedPerson/rp-grace-1"


def test_related_person_must_be_a_fhir_id(family: Family, practice: Practice) -> None:
    added = practice.add_patient(family.ehr, dob=turning_in(13, 200))
    assert added.status_code == 201
    before = practice.rows()
    refused = practice.grant(family.admin, related_person="../Patient/1")
    assert refused.status_code == 400
    assert practice.rows() == before


def test_pairwise_client_sees_pairwise_patient_and_actor(
    oidc: OIDCActions, family: Family, practice: Practice, app: Flask
) -> None:
    family.child(turning_in(13, 200))
    public = introspect(oidc, family, proxy_tokens(oidc, family)["access_token"])
    family.rp = practice.factory.client(
        name="Northside pairwise",
        scope=SCOPE,
        grant_types=["authorization_code", "refresh_token"],
        portal_id=family.portal.id,
        first_party=True,
        subject_type="pairwise",
        redirect_uris=["https://pairwise.northside.example/cb"],
    )
    other_browser = OIDCActions(app.test_client(), practice.factory)
    seen = introspect(other_browser, family, proxy_tokens(other_browser, family)["access_token"])
    assert seen["sub"] != public["sub"]
    assert seen["act"]["sub"] != family.grace.subject


def test_exactly_one_choice_skips_the_picker(
    oidc: OIDCActions, family: Family, practice: Practice
) -> None:
    family.child(turning_in(13, 200))
    # Charles has no record of his own at the practice and one child: nothing to ask.
    charles = practice.parent("charles", age=45, first_name="Charles")
    response = practice.grant(family.admin, representative="charles")
    assert response.status_code == 201, response.text
    req = oidc.request(family.rp, scope=SCOPE)
    response = oidc.login(oidc.authorize(req).headers["Location"], username="charles")
    code = code_after(oidc, response, req)
    claims = jwt_claims(oidc.exchange(family.rp, req, code).get_json()["id_token"])
    assert claims["sub"] == charles.subject and claims["patient_id"] == "MRN-7"
    assert claims["proxy"]["level"] == "full"
    assert practice.audit("record_chosen") == []


def test_select_account_switches_without_a_password(oidc: OIDCActions, family: Family) -> None:
    family.child(turning_in(13, 200))
    proxy_tokens(oidc, family)
    # The session remembers Tim at this practice: the next request goes straight through.
    req = oidc.request(family.rp, scope=SCOPE)
    code = code_after(oidc, oidc.authorize(req), req)
    assert jwt_claims(oidc.exchange(family.rp, req, code).get_json()["id_token"])["patient_id"] == (
        "MRN-7"
    )
    # prompt=select_account opens the picker again, with no sign-in page on the way.
    req = oidc.request(family.rp, scope=SCOPE, extra={"prompt": "select_account"})
    response = oidc.authorize(req)
    assert response.headers["Location"] == "/login/choose"
    code = code_after(oidc, choose(oidc, "MRN-GRACE"), req)
    claims = jwt_claims(oidc.exchange(family.rp, req, code).get_json()["id_token"])
    assert claims["patient_id"] == "MRN-GRACE" and "proxy" not in claims


def test_prompt_none_cannot_show_the_picker(oidc: OIDCActions, family: Family) -> None:
    family.child(turning_in(13, 200))
    oidc.sign_in("grace")
    req = oidc.request(family.rp, scope=SCOPE, extra={"prompt": "none"})
    response = oidc.authorize(req)
    assert response.status_code == 302
    assert query(response.headers["Location"])["error"] == "account_selection_required"


# --- bad input: a posted patient outside the list changes nothing ---------------------------


@pytest.mark.parametrize(
    "patient",
    ["MRN-OTHER", "", "mrn-7", "x" * 500, "MRN-GRACE\x00", "person:1", "self"],
    ids=["someone-elses", "empty", "other-case", "oversized", "nul", "raw", "self"],
)
def test_picker_refuses_a_patient_not_listed(
    oidc: OIDCActions, family: Family, practice: Practice, patient: str
) -> None:
    family.child(turning_in(13, 200))
    # Someone else's child at the same practice, whose MRN Grace might guess.
    practice.add_patient(family.ehr, patient_id="MRN-OTHER", dob=turning_in(10, 5))
    req = oidc.request(family.rp, scope=SCOPE)
    to_picker(oidc, req)
    before = (practice.rows(), len(practice.audit("record_chosen")))
    refused = choose(oidc, patient)
    assert refused.status_code == 400
    # A NUL is refused before any view runs (bad_request); the rest by the picker itself.
    expected = "bad_request" if "\x00" in patient else "record_choice_invalid"
    assert f'data-message-id="{expected}"' in refused.text
    assert (practice.rows(), len(practice.audit("record_chosen"))) == before
    # Nothing was used up: the real choice still works.
    code = code_after(oidc, choose(oidc, "MRN-7"), req)
    assert oidc.exchange(family.rp, req, code).status_code == 200


def test_picker_without_csrf_or_flow_changes_nothing(
    oidc: OIDCActions, family: Family, practice: Practice, app: Flask
) -> None:
    family.child(turning_in(13, 200))
    req = oidc.request(family.rp, scope=SCOPE)
    to_picker(oidc, req)
    forged = choose(oidc, "MRN-7", csrf=False)
    assert forged.status_code == 400
    assert practice.audit("record_chosen") == []
    # Another browser (no parked flow) gets the expired page, whatever it posts.
    stranger: FlaskClient = app.test_client()
    page = stranger.get("/login/choose")
    assert page.status_code == 400 and "choose_record_expired" in page.text
    assert practice.audit("record_chosen") == []
    code = code_after(oidc, choose(oidc, "MRN-7"), req)
    assert oidc.exchange(family.rp, req, code).status_code == 200


# --- the account pages: who acted for me, what I did for others ------------------------------


def test_account_pages_show_who_acted_for_whom(
    oidc: OIDCActions, family: Family, practice: Practice, app: Flask
) -> None:
    ada = practice.parent("ada", age=70, first_name="Ada")
    with practice.services.db.transaction() as uow:
        uow.portal_links.link(ada.id, family.portal.id, "MRN-ADA", practice.services.clock())
    practice.parent("charles", age=45, first_name="Charles")
    practice.flow().grant_by_patient(
        ada, family.portal, representative="charles", relationship="other", meta=RequestMeta()
    )
    # Charles signs in at the portal: one choice (Ada), so no picker; Ada's MRN is sent.
    req = oidc.request(family.rp, scope=SCOPE)
    response = oidc.login(oidc.authorize(req).headers["Location"], username="charles")
    tokens = oidc.exchange(family.rp, req, code_after(oidc, response, req)).get_json()
    assert tokens["patient"] == "MRN-ADA"
    seen = introspect(oidc, family, tokens["access_token"])
    assert seen["sub"] == ada.subject  # Ada has an account: her own subject

    ada_page = Browser(app.test_client(), practice.factory, user_agent=FIREFOX, ip="198.51.100.7")
    ada_page.sign_in("ada")
    text = ada_page.get("/account/proxy").text
    assert 'data-list="acted-for-me"' in text
    assert '<td data-field="representative">Charles Hopper</td>' in text
    assert '<td data-field="portal">Northside Pediatrics</td>' in text
    assert 'data-event="proxy_signin"' in text

    charles_page = Browser(
        app.test_client(), practice.factory, user_agent=FIREFOX, ip="198.51.100.8"
    )
    charles_page.sign_in("charles")
    text = charles_page.get("/account/proxy").text
    assert 'data-list="my-actions"' in text
    assert '<td data-field="patient">Ada Hopper</td>' in text
    assert 'data-event="token_issued"' in text
    # Grace acted for nobody and nobody for her: both lists say so.
    grace_page = Browser(app.test_client(), practice.factory, user_agent=FIREFOX, ip="198.51.100.9")
    grace_page.sign_in("grace")
    text = grace_page.get("/account/proxy").text
    assert "proxy_nobody_acted" in text and "proxy_no_actions" in text
