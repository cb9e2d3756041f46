"""SMART App Launch 2.2 discovery, checked against the spec and against the endpoints.

The spec (SMART App Launch 2.2.0, "Conformance"/"SMART on FHIR Well-Known URI")
requires: authorization_endpoint, token_endpoint, grant_types_supported,
capabilities, code_challenge_methods_supported (S256, never plain); with
sso-openid-connect also issuer and jwks_uri; and recommends scopes_supported,
response_types_supported and token_endpoint_auth_methods_supported. Each listed
capability is then exercised here through the live app.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from idp.cli import main
from idp.oidc.smart import is_patient_scope
from tests.conftest import Factory
from tests.helpers import OIDCActions, jwt_claims, query

# SMART App Launch 2.2 capability names (spec §"Capabilities").
SPEC_CAPABILITIES = {
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-standalone-encounter",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
}
REQUIRED = {
    "issuer": str,
    "jwks_uri": str,
    "authorization_endpoint": str,
    "token_endpoint": str,
    "grant_types_supported": list,
    "token_endpoint_auth_methods_supported": list,
    "scopes_supported": list,
    "response_types_supported": list,
    "code_challenge_methods_supported": list,
    "capabilities": list,
}
MRN = "MRN-31337"
LAUNCH_SCOPE = "openid profile launch/patient patient/Observation.rs offline_access"


@pytest.fixture
def smart(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.get_json()  # type: ignore[no-any-return]


def linked_patient_app(factory: Factory, *, public: bool, auth_method: str | None = None) -> Any:
    """A practice, its SMART app and Alice linked to the practice under MRN."""
    slug = f"smart-practice-{auth_method or 'public'}"
    with factory.services.db.transaction() as uow:
        portal = uow.portals.add(slug=slug, name="Smart Practice", now=datetime.now(UTC))
    extra = {"token_endpoint_auth_method": auth_method} if auth_method else {}
    app = factory.client(public=public, portal_id=portal.id, scope=LAUNCH_SCOPE, **extra)
    with factory.services.db.transaction() as uow:
        alice = uow.accounts.by_username("alice")
    if alice is None:
        alice = factory.account()
    with factory.services.db.transaction() as uow:
        uow.portal_links.link(alice.id, portal.id, MRN, factory.services.clock())
    return app


def test_required_fields_are_present_and_well_typed(smart: dict[str, Any]) -> None:
    for name, kind in REQUIRED.items():
        assert isinstance(smart.get(name), kind), name
    assert set(smart["capabilities"]) <= SPEC_CAPABILITIES
    assert "S256" in smart["code_challenge_methods_supported"]
    assert "plain" not in smart["code_challenge_methods_supported"]
    assert smart["response_types_supported"] == ["code"]


def test_it_agrees_with_openid_discovery(smart: dict[str, Any], oidc: OIDCActions) -> None:
    openid = oidc.discovery()
    for name in ("issuer", "jwks_uri", "authorization_endpoint", "token_endpoint"):
        assert smart[name] == openid[name]
    assert set(smart["grant_types_supported"]) <= set(openid["grant_types_supported"])
    assert set(smart["scopes_supported"]) <= set(openid["scopes_supported"])
    assert set(smart["token_endpoint_auth_methods_supported"]) <= set(
        openid["token_endpoint_auth_methods_supported"]
    )


def test_standalone_patient_launch_by_a_public_app(
    smart: dict[str, Any], oidc: OIDCActions, factory: Factory
) -> None:
    """launch-standalone, client-public, context-standalone-patient, permission-patient,
    permission-v2, permission-offline and sso-openid-connect, in one launch."""
    app = linked_patient_app(factory, public=True)
    req = oidc.request(app, scope=LAUNCH_SCOPE)
    code = oidc.code_for(req)
    response = oidc.exchange(app, req, code, auth="none")
    assert response.status_code == 200, response.text
    tokens = response.get_json()
    assert tokens["patient"] == MRN  # context-standalone-patient
    granted = tokens["scope"].split()
    assert "patient/Observation.rs" in granted  # permission-patient, permission-v2: echoed
    assert "launch/patient" in granted
    assert tokens["refresh_token"]  # permission-offline
    assert jwt_claims(tokens["id_token"])["iss"] == smart["issuer"]  # sso-openid-connect
    # The refresh keeps the context and the scopes.
    refreshed = oidc.refresh(app, tokens["refresh_token"], auth="none")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.get_json()["patient"] == MRN
    assert "patient/Observation.rs" in refreshed.get_json()["scope"].split()


def test_confidential_symmetric_apps_with_each_listed_secret_method(
    smart: dict[str, Any], oidc: OIDCActions, factory: Factory
) -> None:
    """client-confidential-symmetric, under each client-secret method the document lists."""
    ways = {"client_secret_basic": "basic", "client_secret_post": "post"}
    listed = [m for m in smart["token_endpoint_auth_methods_supported"] if m in ways]
    assert listed == ["client_secret_basic", "client_secret_post"]
    for method in listed:
        app = linked_patient_app(factory, public=False, auth_method=method)
        req = oidc.request(app, scope=LAUNCH_SCOPE)
        code = oidc.code_for(req)
        response = oidc.exchange(app, req, code, auth=ways[method])
        assert response.status_code == 200, (method, response.text)
        assert response.get_json()["patient"] == MRN


def test_authorize_post(smart: dict[str, Any], oidc: OIDCActions, factory: Factory) -> None:
    assert "authorize-post" in smart["capabilities"]
    app = linked_patient_app(factory, public=True)
    req = oidc.request(app, scope=LAUNCH_SCOPE)
    response = oidc.follow_to_redirect(oidc.authorize(req, method="POST"))
    assert response.status_code == 302
    assert "code" in query(response.headers["Location"])


def test_unlisted_things_are_refused(smart: dict[str, Any], oidc: OIDCActions, factory) -> None:
    app = linked_patient_app(factory, public=True)
    plain = oidc.request(app, scope=LAUNCH_SCOPE, extra={"code_challenge_method": "plain"})
    location = oidc.authorize(plain).headers.get("Location", "")
    assert query(location).get("error") == "invalid_request"
    implicit = oidc.request(app, scope=LAUNCH_SCOPE, extra={"response_type": "token"})
    location = oidc.authorize(implicit).headers.get("Location", "")
    assert query(location).get("error") == "unsupported_response_type"


@pytest.mark.parametrize(
    ("scope", "ok"),
    [
        ("patient/Observation.rs", True),
        ("patient/*.cruds", True),
        ("patient/Observation.rs?category=laboratory", True),
        ("patient/Observation.read", False),  # v1 syntax: permission-v1 is not claimed
        ("patient/Observation.sr", False),  # out of order
        ("patient/Observation.", False),
        ("user/Observation.rs", False),  # permission-user is not claimed
        ("system/*.rs", False),
        ("patient/observation.rs", False),
    ],
)
def test_patient_scope_syntax(scope: str, ok: bool) -> None:
    assert is_patient_scope(scope) is ok


def test_the_command_line_registers_v2_patient_scopes(
    database_url: str, settings, clean_database
) -> None:
    env = {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": str(settings.keys_dir),
        "IDP_ENV": "test",
        "IDP_SECRET_KEY": settings.secret_key,
        "IDP_EPHEMERAL": "memory",
    }
    runner = CliRunner()
    base = ["clients", "add", "--name", "Growth chart app", "--public"]
    base += ["--redirect-uri", "http://127.0.0.1:9000/cb", "--json"]
    good = runner.invoke(main, base + ["--scope", LAUNCH_SCOPE], env=env)
    assert good.exit_code == 0, good.output
    bad = runner.invoke(main, base + ["--scope", "openid user/Observation.rs"], env=env)
    assert bad.exit_code != 0
    assert "patient/" in bad.output
