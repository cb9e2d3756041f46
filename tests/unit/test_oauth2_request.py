"""The token endpoints' Authlib request, built without Authlib's per-request transport
check (idp/web/server.py): the same object Authlib's own constructor builds, and the
same refusal for an origin that is not secure."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from idp.web.server import IssuerOAuth2Request


def _request(path: str = "/token") -> Request:
    return Request(
        EnvironBuilder(
            path=path,
            method="POST",
            data={"grant_type": "client_credentials"},
            headers={"Host": "anything.example"},
        ).get_environ()
    )


@pytest.mark.parametrize(
    "issuer", ["https://idp.example", "http://127.0.0.1:5000", "http://localhost:8000"]
)
def test_built_as_authlibs_constructor_builds_it(issuer: str) -> None:
    request = _request()
    ours = IssuerOAuth2Request(request, issuer)
    theirs = OAuth2Request.__new__(IssuerOAuth2Request)
    OAuth2Request.__init__(theirs, method="POST", uri=issuer + "/token", headers=request.headers)
    theirs._request = request
    theirs.payload = ours.payload
    assert vars(ours) == vars(theirs)
    assert ours.uri == issuer + "/token"
    assert ours.payload.grant_type == "client_credentials"


def test_an_origin_that_is_not_secure_is_still_refused() -> None:
    with pytest.raises(InsecureTransportError):
        IssuerOAuth2Request(_request(), "http://idp.example")
