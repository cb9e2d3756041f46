"""`patient_id` in the ID token and UserInfo, SMART's `patient` in the token response.

Each practice's client sees its own practice's MRN for the signed-in patient and
nothing about other practices (DESIGN.md: portals "do not see each other's data").
"""

from __future__ import annotations

import json

import pytest

from idp.records import AccountRecord
from idp.services import Services

from ..conftest import Factory
from ..helpers import OIDCActions
from .conftest import NORTH_MRN, SOUTH_MRN, Practice, add_practice, link

pytestmark = pytest.mark.usefixtures("linked")


def sign_in_at(oidc: OIDCActions, practice: Practice, scope: str = "openid profile"):
    req = oidc.request(practice.client, scope=scope)
    tokens = oidc.tokens(practice.client, req)
    id_token = oidc.id_token(tokens["id_token"], practice.client, nonce=req.nonce)
    return tokens, id_token.claims


def userinfo(oidc: OIDCActions, access_token: str) -> dict:
    response = oidc.userinfo(access_token)
    assert response.status_code == 200, response.text
    return response.get_json()  # type: ignore[no-any-return]


def test_each_practice_sees_only_its_own_patient_id(
    oidc: OIDCActions, north: Practice, south: Practice
) -> None:
    for practice, mine, other in ((north, NORTH_MRN, south), (south, SOUTH_MRN, north)):
        tokens, claims = sign_in_at(oidc, practice)
        assert claims["patient_id"] == mine
        info = userinfo(oidc, tokens["access_token"])
        assert info["patient_id"] == mine
        # Nothing of the other practice anywhere: not its MRN, not its slug.
        other_mrn = SOUTH_MRN if mine == NORTH_MRN else NORTH_MRN
        for text in (json.dumps(claims), json.dumps(info), json.dumps(tokens)):
            assert other_mrn not in text and other.portal.slug not in text
        assert "patient" not in tokens  # launch/patient was not asked for


def test_client_without_a_practice_gets_no_patient_id(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client(scope="openid profile launch/patient")
    req = oidc.request(rp, scope="openid profile launch/patient")
    tokens = oidc.tokens(rp, req)
    claims = oidc.id_token(tokens["id_token"], rp).claims
    assert "patient_id" not in claims
    assert "patient_id" not in userinfo(oidc, tokens["access_token"])
    assert "patient" not in tokens


def test_revoked_link_gives_nothing_even_to_tokens_issued_before(
    oidc: OIDCActions, services: Services, alice: AccountRecord, north: Practice, south: Practice
) -> None:
    before, _ = sign_in_at(oidc, north, "openid launch/patient offline_access")
    assert before["patient"] == NORTH_MRN
    with services.db.transaction() as uow:
        assert uow.portal_links.revoke(alice.id, north.portal.id, services.clock())

    # Read live: the access token issued earlier no longer shows the MRN.
    assert "patient_id" not in userinfo(oidc, before["access_token"])
    refreshed = oidc.refresh(north.client, before["refresh_token"])
    assert refreshed.status_code == 200 and "patient" not in refreshed.get_json()
    tokens, claims = sign_in_at(oidc, north, "openid launch/patient")
    assert "patient_id" not in claims and "patient" not in tokens
    # The other practice is untouched.
    assert sign_in_at(oidc, south)[1]["patient_id"] == SOUTH_MRN


def test_invited_link_is_not_active_yet(
    oidc: OIDCActions, services: Services, factory: Factory
) -> None:
    east = add_practice(factory, "eastside", "Eastside Clinic", 9103)
    bob = factory.account("bob")
    link(services, bob, east, "E-1", status="invited")
    req = oidc.request(east.client, scope="openid launch/patient")
    tokens = oidc.tokens(east.client, req, username="bob")
    assert "patient_id" not in oidc.id_token(tokens["id_token"], east.client).claims
    assert "patient" not in tokens


def test_launch_patient_puts_patient_in_the_token_response(
    oidc: OIDCActions, north: Practice
) -> None:
    tokens, claims = sign_in_at(oidc, north, "openid launch/patient")
    assert tokens["patient"] == NORTH_MRN == claims["patient_id"]
    assert "launch/patient" in tokens["scope"].split()


def test_launch_patient_without_a_link_still_signs_in(
    oidc: OIDCActions, factory: Factory, services: Services
) -> None:
    west = add_practice(factory, "westend", "West End Health", 9104)
    tokens, claims = sign_in_at(oidc, west, "openid launch/patient")
    assert "patient" not in tokens and "patient_id" not in claims
    assert tokens["access_token"] and "launch/patient" in tokens["scope"].split()


def test_refresh_keeps_the_right_patient_for_each_practice(
    oidc: OIDCActions, north: Practice, south: Practice
) -> None:
    scope = "openid launch/patient offline_access"
    issued = {p.portal.slug: sign_in_at(oidc, p, scope)[0] for p in (north, south)}
    for practice, mrn in ((north, NORTH_MRN), (south, SOUTH_MRN)):
        refresh_token = issued[practice.portal.slug]["refresh_token"]
        for _ in range(2):  # and again after rotation
            response = oidc.refresh(practice.client, refresh_token)
            assert response.status_code == 200, response.text
            body = response.get_json()
            assert body["patient"] == mrn
            assert userinfo(oidc, body["access_token"])["patient_id"] == mrn
            refresh_token = body["refresh_token"]


def test_refresh_narrowed_without_launch_patient_has_no_patient(
    oidc: OIDCActions, north: Practice
) -> None:
    tokens, _ = sign_in_at(oidc, north, "openid launch/patient offline_access")
    response = oidc.refresh(
        north.client, tokens["refresh_token"], extra={"scope": "openid offline_access"}
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert "patient" not in body
    # patient_id needs no scope: it still names the practice's own patient.
    assert userinfo(oidc, body["access_token"])["patient_id"] == NORTH_MRN


def test_pairwise_subject_still_gets_the_practice_mrn(
    oidc: OIDCActions, factory: Factory, services: Services, alice: AccountRecord
) -> None:
    with services.db.transaction() as uow:
        portal = uow.portals.add(slug="harbor", name="Harbor Clinic", now=services.clock())
    rp = factory.client(
        portal_id=portal.id,
        subject_type="pairwise",
        redirect_uris=["http://harbor.example.test/callback"],
    )
    harbor = Practice(portal=portal, client=rp)
    link(services, alice, harbor, "H-9")
    tokens, claims = sign_in_at(oidc, harbor)
    assert claims["sub"] != alice.subject
    assert claims["patient_id"] == "H-9"


def test_discovery_advertises_patient_id_and_launch_patient(oidc: OIDCActions) -> None:
    doc = oidc.discovery()
    assert "patient_id" in doc["claims_supported"]
    assert "launch/patient" in doc["scopes_supported"]
