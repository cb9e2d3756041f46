"""Client authentication at the token endpoint (RFC 6749 §2.3, §5.2): each client
authenticates exactly as registered (stack-notes §1: the "none" pitfall)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from ..conftest import Factory
from ..helpers import OIDCActions, basic


@pytest.fixture(autouse=True)
def alice(factory: Factory):
    return factory.account()


def _code_request(oidc: OIDCActions, rp) -> dict[str, str]:
    req = oidc.request(rp)
    code = oidc.code_for(req)
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": req.redirect_uri,
        "code_verifier": req.verifier,
    }


def _invalid_client(response, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.get_json()["error"] == "invalid_client"


def test_client_secret_basic_client_authenticates_with_basic(oidc: OIDCActions, factory) -> None:
    rp = factory.client()
    response = oidc.token(rp, _code_request(oidc, rp), auth="basic")
    assert response.status_code == 200, response.text


def test_client_secret_basic_client_using_client_secret_post_is_invalid_client(
    oidc: OIDCActions, factory: Factory
) -> None:
    rp = factory.client()
    _invalid_client(oidc.token(rp, _code_request(oidc, rp), auth="post"))


def test_client_secret_post_client_authenticates_with_post_only(
    oidc: OIDCActions, factory: Factory
) -> None:
    rp = factory.client(token_endpoint_auth_method="client_secret_post")
    _invalid_client(oidc.token(rp, _code_request(oidc, rp), auth="basic"))
    response = oidc.token(rp, _code_request(oidc, rp), auth="post")
    assert response.status_code == 200, response.text


def test_confidential_client_sending_no_secret_is_invalid_client(
    oidc: OIDCActions, factory: Factory
) -> None:
    rp = factory.client()
    _invalid_client(oidc.token(rp, _code_request(oidc, rp), auth="none"))


def test_wrong_secret_is_invalid_client_401_with_www_authenticate(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client()
    response = client.post(
        "/token", data=_code_request(oidc, rp), headers=basic(rp.client_id, "wrong-secret")
    )
    _invalid_client(response)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_secret_by_post_is_invalid_client(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client(token_endpoint_auth_method="client_secret_post")
    data = _code_request(oidc, rp) | {"client_id": rp.client_id, "client_secret": "wrong"}
    _invalid_client(client.post("/token", data=data))


def test_failed_client_authentication_does_not_spend_the_code(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client()
    data = _code_request(oidc, rp)
    _invalid_client(client.post("/token", data=data, headers=basic(rp.client_id, "wrong")))
    assert oidc.token(rp, data).status_code == 200


def test_secret_of_another_client_is_invalid_client(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client()
    other = factory.client(name="Other")
    headers = basic(rp.client_id, factory.secrets[other.client_id])
    _invalid_client(client.post("/token", data=_code_request(oidc, rp), headers=headers))


def test_public_client_redeems_with_pkce_and_no_secret(oidc: OIDCActions, factory: Factory) -> None:
    rp = factory.client(public=True)
    response = oidc.token(rp, _code_request(oidc, rp), auth="none")
    assert response.status_code == 200, response.text
    assert response.get_json()["id_token"]


def test_public_client_sending_a_secret_is_invalid_client(
    oidc: OIDCActions, factory: Factory, client: FlaskClient
) -> None:
    rp = factory.client(public=True)
    headers = basic(rp.client_id, "made-up-secret")
    _invalid_client(client.post("/token", data=_code_request(oidc, rp), headers=headers))


def test_unknown_client_is_invalid_client(oidc: OIDCActions, client: FlaskClient) -> None:
    _invalid_client(
        client.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "x"},
            headers=basic("no-such-client", "secret"),
        )
    )


def test_no_client_authentication_at_all_is_invalid_client(client: FlaskClient) -> None:
    response = client.post("/token", data={"grant_type": "authorization_code", "code": "x"})
    _invalid_client(response)


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + "bm9jb2xvbg==",  # "nocolon"
        "Basic " + "Ong=",  # ":x"
        "Basic " + "//79",  # bytes that are not UTF-8
        "Bearer abc",
        "Digest username=x",
    ],
)
def test_malformed_authorization_header_is_invalid_client(
    oidc: OIDCActions, factory: Factory, client: FlaskClient, header: str
) -> None:
    rp = factory.client()
    data = _code_request(oidc, rp)
    response = client.post("/token", data=data, headers={"Authorization": header})
    assert response.status_code in (400, 401), response.text
    assert response.get_json()["error"] == "invalid_client"


def test_removed_client_can_no_longer_authenticate(
    oidc: OIDCActions, factory: Factory, services
) -> None:
    rp = factory.client()
    data = _code_request(oidc, rp)
    with services.db.transaction() as uow:
        uow.clients.remove(rp.client_id, now=datetime.now(UTC))
    services.clients.changed()  # as `idp clients remove` does after its commit
    _invalid_client(oidc.token(rp, data))
