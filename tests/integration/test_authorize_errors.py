"""Authorization endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).

Until the client and its redirect URI are both known to be good, an error is a
page on our site; after that, it goes back to the client with state and iss.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import REDIRECT_URI, Factory
from ..helpers import (
    AuthRequest,
    OIDCActions,
    assert_error_page,
    assert_error_redirect,
    query,
    row_counts,
)


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client()


def test_unknown_client_id_gets_an_error_page_not_a_redirect(
    oidc: OIDCActions, client: FlaskClient
) -> None:
    req = AuthRequest(client_id="no-such-client", redirect_uri=REDIRECT_URI)
    assert_error_page(oidc.authorize(req), "unknown_client")


def test_missing_client_id_gets_an_error_page(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"client_id": None})
    assert_error_page(oidc.authorize(req), "missing_client_id")


def test_missing_redirect_uri_gets_an_error_page(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"redirect_uri": None})
    assert_error_page(oidc.authorize(req), "missing_redirect_uri")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        REDIRECT_URI + "/",
        REDIRECT_URI + "/extra",
        REDIRECT_URI + "x",
        REDIRECT_URI + "?next=https://evil.example",
        REDIRECT_URI + "#fragment",
        REDIRECT_URI[:-1],
        "http://127.0.0.1:9000/",
        "http://127.0.0.1:9001/callback",
        "https://127.0.0.1:9000/callback",
        "HTTP://127.0.0.1:9000/callback",
        "http://127.0.0.1:9000/CALLBACK",
        "http://127.0.0.1:9000/callback/../callback",
        "http://127.0.0.1:9000/%63allback",
        " " + REDIRECT_URI,
        REDIRECT_URI + " ",
        "http://localhost:9000/callback",
        "//127.0.0.1:9000/callback",
        "/callback",
    ],
)
def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    oidc: OIDCActions, rp, redirect_uri: str
) -> None:
    req = oidc.request(rp, extra={"redirect_uri": redirect_uri})
    assert_error_page(oidc.authorize(req), "unregistered_redirect_uri")


def test_unregistered_redirect_uri_is_refused_even_when_other_params_are_bad(
    oidc: OIDCActions, rp
) -> None:
    req = oidc.request(
        rp, extra={"redirect_uri": "https://evil.example/cb", "response_type": "token"}
    )
    assert_error_page(oidc.authorize(req), "unregistered_redirect_uri")


def test_repeated_redirect_uri_gets_an_error_page(oidc: OIDCActions, client, rp) -> None:
    params = oidc.request(rp).params()
    query_string = list(params.items()) + [("redirect_uri", REDIRECT_URI)]
    assert_error_page(client.get("/authorize", query_string=query_string), "repeated_parameter")


def test_missing_response_type_redirects_with_invalid_request(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"response_type": None})
    params = assert_error_redirect(
        oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state
    )
    assert params["iss"] == oidc.issuer()


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", "x"])
def test_unsupported_response_type_redirects_with_unsupported_response_type(
    oidc: OIDCActions, rp, response_type: str
) -> None:
    req = oidc.request(rp, extra={"response_type": response_type})
    params = assert_error_redirect(
        oidc.authorize(req), REDIRECT_URI, "unsupported_response_type", state=req.state
    )
    assert params["iss"] == oidc.issuer()


def test_unsupported_response_type_is_refused_for_a_signed_in_user_too(
    oidc: OIDCActions, rp
) -> None:
    oidc.sign_in()
    req = oidc.request(rp, extra={"response_type": "token"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "unsupported_response_type")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_request_object_is_refused_with_request_not_supported(
    oidc: OIDCActions, rp, method: str
) -> None:
    req = oidc.request(rp, extra={"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."})
    assert_error_redirect(
        oidc.authorize(req, method=method), REDIRECT_URI, "request_not_supported", state=req.state
    )


def test_request_uri_is_refused_with_request_uri_not_supported(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"request_uri": "https://rp.example/request.jwt"})
    assert_error_redirect(
        oidc.authorize(req), REDIRECT_URI, "request_uri_not_supported", state=req.state
    )


def test_repeated_parameter_redirects_with_invalid_request(oidc: OIDCActions, client, rp) -> None:
    req = oidc.request(rp)
    query_string = list(req.params().items()) + [("scope", "openid email")]
    response = client.get("/authorize", query_string=query_string)
    assert_error_redirect(response, REDIRECT_URI, "invalid_request", state=req.state)


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "9999999999", " 5", "\u0663", "\u00b2"])
def test_malformed_max_age_redirects_with_invalid_request(
    oidc: OIDCActions, rp, max_age: str
) -> None:
    req = oidc.request(rp, extra={"max_age": max_age})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


def test_prompt_none_with_another_value_redirects_with_invalid_request(
    oidc: OIDCActions, rp
) -> None:
    oidc.sign_in()
    req = oidc.request(rp, extra={"prompt": "none login"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


def test_error_redirect_without_state_has_no_state(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, state="", extra={"response_type": "token"})
    params = assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "unsupported_response_type")
    assert "state" not in params


def test_errors_write_nothing_durable(oidc: OIDCActions, services, rp) -> None:
    before = row_counts(services)
    oidc.authorize(oidc.request(rp, extra={"response_type": "token"}))
    oidc.authorize(oidc.request(rp, extra={"redirect_uri": "https://evil.example/"}))
    oidc.authorize(oidc.request(rp, extra={"request": "x"}))
    assert row_counts(services) == before


def test_error_page_is_not_cached_and_is_html(oidc: OIDCActions, rp) -> None:
    response = oidc.authorize(oidc.request(rp, extra={"redirect_uri": "https://evil.example/"}))
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert query(response.headers.get("Location", "")) == {}


def test_control_characters_in_a_parameter_redirect_with_invalid_request(
    oidc: OIDCActions, rp
) -> None:
    req = oidc.request(rp, extra={"nonce": "abc\x01def"})
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_request", state=req.state)


def test_nul_byte_in_any_parameter_is_an_error_page(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"state": "a\x00b"})
    assert_error_page(oidc.authorize(req), "bad_request")


@pytest.mark.parametrize("scope", ['openid "profile"', "openid\\email", "openid\tprofile"])
def test_malformed_scope_redirects_with_invalid_scope(oidc: OIDCActions, rp, scope: str) -> None:
    req = oidc.request(rp, scope=scope)
    assert_error_redirect(oidc.authorize(req), REDIRECT_URI, "invalid_scope", state=req.state)


def test_overlong_parameter_gets_an_error_page(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={"login_hint": "x" * 3000})
    assert_error_page(oidc.authorize(req), "parameter_too_long")


def test_too_many_parameters_get_an_error_page(oidc: OIDCActions, rp) -> None:
    req = oidc.request(rp, extra={f"p{i}": "1" for i in range(50)})
    assert_error_page(oidc.authorize(req), "too_many_parameters")


def test_client_without_the_code_grant_is_unauthorized_client(
    oidc: OIDCActions, factory: Factory
) -> None:
    factory.account("carol")
    rp = factory.client(grant_types=["client_credentials"])
    req = oidc.request(rp)
    response = oidc.follow_to_redirect(oidc.authorize(req), username="carol")
    assert_error_redirect(response, REDIRECT_URI, "unauthorized_client", state=req.state)
