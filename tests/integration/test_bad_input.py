"""Bad input never yields a 500, and nothing half-written (security invariant 8).

One table of hostile or malformed requests, run against every endpoint; each
must get a 4xx (or an OAuth error redirect), and the durable tables must not
change.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from ..conftest import ALL_SCOPES, REDIRECT_URI, Factory
from ..helpers import OIDCActions, basic, csrf_token, row_counts

CID = "bad-input-rp"
RURI = quote(REDIRECT_URI, safe="")
GOOD = f"client_id={CID}&redirect_uri={RURI}&response_type=code&scope=openid"
PKCE = "code_challenge=" + "a" * 43 + "&code_challenge_method=S256"
LONG = "x" * 3000
FORM = "application/x-www-form-urlencoded"


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


WEIRD_JWTS = [
    "....",
    "a.b.c",
    f"{_b64([1])}.{_b64({'sub': 'x'})}.c2ln",
    f"{_b64('x')}.{_b64({'sub': 'x'})}.c2ln",
    f"{_b64({'alg': 'RS256', 'kid': {'a': 1}})}.{_b64({'sub': 'x'})}.c2ln",
    f"{_b64({'alg': 'RS256', 'kid': 'k', 'crit': ['x']})}.{_b64({'sub': 'x'})}.c2ln",
    f"{_b64({'alg': 'RS256'})}.{_b64(b'not json')}.c2ln",
    f"{_b64({'alg': 'RS256'})}.{_b64([1, 2])}.c2ln",
    f"{_b64({'alg': 'HS256'})}.{_b64({'sub': 'x', 'aud': CID})}.c2ln",
    f"{_b64({'alg': 'none'})}.{_b64({'sub': 'x', 'aud': CID})}.",
    _b64(bytes([255, 254])) + "." + _b64(bytes([255])) + ".c2ln",
    "eyJ" + "A" * 2500,
]


@dataclass
class Case:
    id: str
    method: str
    path: str
    query: str = ""
    body: bytes | str | dict[str, Any] | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Requests with a valid CSRF token reach the flow; a failed sign-in is audited.
    with_csrf: bool = False
    may_audit: bool = False
    # The bad part is one the protocol says to ignore, or the answer to an unknown
    # token is a success by definition (RFC 7009 §2.2, RFC 7662 §2.2).
    ok: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.body, str | bytes) and self.content_type is None:
            self.content_type = FORM


def _cases() -> list[Case]:
    cases = [
        # --- /authorize -------------------------------------------------------------
        Case(
            "authorize-repeated-response_type",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&response_type=code",
        ),
        Case("authorize-repeated-client_id", "GET", "/authorize", f"{GOOD}&client_id={CID}"),
        Case("authorize-long-state", "GET", "/authorize", f"{GOOD}&{PKCE}&state={LONG}"),
        Case("authorize-long-client_id", "GET", "/authorize", f"client_id={LONG}"),
        Case("authorize-long-param-name", "GET", "/authorize", f"{GOOD}&{'p' * 3000}=1"),
        Case(
            "authorize-many-params",
            "GET",
            "/authorize",
            GOOD + "".join(f"&p{i}=1" for i in range(60)),
        ),
        Case("authorize-bad-utf8-client_id", "GET", "/authorize", "client_id=%ff%fe"),
        Case("authorize-bad-utf8-scope", "GET", "/authorize", f"{GOOD}%ff%fe&{PKCE}", ok=True),
        Case("authorize-bad-utf8-name", "GET", "/authorize", f"{GOOD}&{PKCE}&%ff%fe=1", ok=True),
        Case("authorize-nul-client_id", "GET", "/authorize", "client_id=rp%00&redirect_uri=x"),
        Case(
            "authorize-nul-redirect_uri",
            "GET",
            "/authorize",
            f"client_id={CID}&redirect_uri={RURI}%00",
        ),
        Case("authorize-nul-state", "GET", "/authorize", f"{GOOD}&{PKCE}&state=a%00b"),
        Case("authorize-nul-nonce", "GET", "/authorize", f"{GOOD}&{PKCE}&nonce=%00"),
        Case(
            "authorize-deep-claims",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&claims=" + quote("[" * 1000 + "]" * 1000),
        ),
        Case(
            "authorize-deep-claims-object",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&claims=" + quote('{"a":' * 400 + "1" + "}" * 400),
        ),
        Case(
            "authorize-claims-true",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&claims=" + quote('{"userinfo": {"name": true}}'),
            ok=True,
        ),
        Case(
            "authorize-claims-nan",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&claims=" + quote('{"userinfo": NaN}'),
        ),
        Case("authorize-claims-bad-utf8", "GET", "/authorize", f"{GOOD}&{PKCE}&claims=%7B%ff%7D"),
        Case(
            "authorize-huge-max_age",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&max_age=99999999999999999999",
        ),
        Case(
            "authorize-unicode-max_age", "GET", "/authorize", f"{GOOD}&{PKCE}&max_age=%D9%A3"
        ),  # ARABIC-INDIC DIGIT THREE: isdigit() is True
        Case(
            "authorize-array-ish-scope",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&scope[]=openid",
            ok=True,
        ),
        Case(
            "authorize-json-ish-prompt",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&prompt=" + quote('["none"]'),
            ok=True,
        ),
        Case("authorize-bad-prompt", "GET", "/authorize", f"{GOOD}&{PKCE}&prompt=%ff", ok=True),
        Case(
            "authorize-bad-challenge",
            "GET",
            "/authorize",
            f"{GOOD}&code_challenge=%ff%fe&code_challenge_method=S256",
        ),
        Case(
            "authorize-empty-everything",
            "GET",
            "/authorize",
            "client_id=&redirect_uri=&response_type=",
        ),
        Case("authorize-post-bad-utf8", "POST", "/authorize", body=f"{GOOD}&state=%ff%fe"),
        Case("authorize-post-nul", "POST", "/authorize", body=f"{GOOD}&{PKCE}&state=%00"),
        Case(
            "authorize-post-json",
            "POST",
            "/authorize",
            body=json.dumps({"client_id": CID}),
            content_type="application/json",
        ),
        Case(
            "authorize-post-multipart",
            "POST",
            "/authorize",
            body={"client_id": CID, "file": (b"x" * 10, "f.txt")},
            content_type="multipart/form-data",
        ),
        Case("authorize-post-huge", "POST", "/authorize", body="a=" + "x" * 70_000),
        Case("authorize-post-text", "POST", "/authorize", body="hello", content_type="text/plain"),
        Case(
            "authorize-post-bad-charset",
            "POST",
            "/authorize",
            body=GOOD.encode(),
            content_type=FORM + "; charset=utf-16",
        ),
        # --- /authorize/resume, /login, /consent ------------------------------------
        Case("resume-bad-utf8", "GET", "/authorize/resume", "i=%ff%fe"),
        Case("resume-nul", "GET", "/authorize/resume", "i=%00"),
        Case("resume-long", "GET", "/authorize/resume", f"i={LONG}"),
        Case("login-get-bad-utf8", "GET", "/login", "i=%ff%fe"),
        Case("login-get-nul", "GET", "/login", "i=a%00"),
        Case("login-get-long", "GET", "/login", f"i={LONG}"),
        Case("login-no-csrf-bad-utf8", "POST", "/login", body="username=%ff%fe&password=%ff"),
        Case("login-no-csrf-nul", "POST", "/login", body="username=a%00&password=%00"),
        Case("login-huge", "POST", "/login", body="username=" + "x" * 70_000),
        Case(
            "login-json",
            "POST",
            "/login",
            body='{"username": "alice"}',
            content_type="application/json",
        ),
        Case(
            "login-bad-utf8",
            "POST",
            "/login",
            body="username=%ff%fe&password=%ff%fe",
            with_csrf=True,
            may_audit=True,
        ),
        Case(
            "login-nul",
            "POST",
            "/login",
            body="username=al%00ice&password=a%00b",
            with_csrf=True,
            may_audit=True,
        ),
        Case(
            "login-long-username",
            "POST",
            "/login",
            body=f"username={LONG}&password={LONG}",
            with_csrf=True,
            may_audit=True,
        ),
        Case(
            "login-repeated",
            "POST",
            "/login",
            body="username=alice&username=bob&password=x&password=y",
            with_csrf=True,
            may_audit=True,
        ),
        Case(
            "login-bad-interaction",
            "POST",
            "/login",
            body="username=a&password=b&i=%ff",
            with_csrf=True,
        ),
        Case(
            "login-long-password",
            "POST",
            "/login",
            body="username=alice&password=" + "p" * 60_000,
            with_csrf=True,
            may_audit=True,
        ),
        Case("consent-get-bad-utf8", "GET", "/consent", "i=%ff%fe"),
        Case("consent-post-nul", "POST", "/consent", body="i=%00&decision=allow"),
        Case("consent-post-bad", "POST", "/consent", body="i=%ff&decision=allow", with_csrf=True),
        # --- /token ---------------------------------------------------------------
        Case("token-missing-grant_type", "POST", "/token", body=f"client_id={CID}"),
        Case("token-empty-body", "POST", "/token"),
        Case("token-bad-utf8-grant_type", "POST", "/token", body="grant_type=%ff%fe"),
        Case(
            "token-repeated-grant_type",
            "POST",
            "/token",
            body="grant_type=authorization_code&grant_type=refresh_token&code=x",
        ),
        Case(
            "token-json",
            "POST",
            "/token",
            body=json.dumps({"grant_type": "client_credentials"}),
            content_type="application/json",
        ),
        Case(
            "token-json-non-strings",
            "POST",
            "/token",
            body=json.dumps({"grant_type": ["a"], "code": {"x": 1}, "client_id": 1}),
            content_type="application/json",
        ),
        Case(
            "token-text",
            "POST",
            "/token",
            body="grant_type=client_credentials",
            content_type="text/plain",
        ),
        Case(
            "token-multipart",
            "POST",
            "/token",
            body={"grant_type": "client_credentials", "client_id": CID},
            content_type="multipart/form-data",
        ),
        Case("token-huge", "POST", "/token", body="grant_type=" + "x" * 70_000),
        Case("token-unknown-grant", "POST", "/token", body="grant_type=password&username=a"),
        Case(
            "token-jwt-bearer",
            "POST",
            "/token",
            body="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        ),
        Case(
            "token-code-nul",
            "POST",
            "/token",
            body=f"grant_type=authorization_code&code=a%00b&redirect_uri={RURI}",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-code-bad-utf8",
            "POST",
            "/token",
            body=f"grant_type=authorization_code&code=%ff%fe&redirect_uri={RURI}&code_verifier=%ff",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-code-long",
            "POST",
            "/token",
            body=f"grant_type=authorization_code&code={LONG}&redirect_uri={LONG}"
            f"&code_verifier={LONG}",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-refresh-nul",
            "POST",
            "/token",
            body="grant_type=refresh_token&refresh_token=%00",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-refresh-long",
            "POST",
            "/token",
            body=f"grant_type=refresh_token&refresh_token={LONG}&scope={LONG}",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-refresh-bad-scope",
            "POST",
            "/token",
            body="grant_type=refresh_token&refresh_token=x&scope=%ff%00",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-cc-bad-scope",
            "POST",
            "/token",
            body="grant_type=client_credentials&scope=%ff%fe%00",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        Case(
            "token-client_id-bad-utf8",
            "POST",
            "/token",
            body="grant_type=client_credentials&client_id=%ff&client_secret=%fe",
        ),
        Case(
            "token-client_id-nul",
            "POST",
            "/token",
            body="grant_type=client_credentials&client_id=%00&client_secret=%00",
        ),
        Case(
            "token-client_id-long",
            "POST",
            "/token",
            body=f"grant_type=client_credentials&client_id={LONG}&client_secret={LONG}",
        ),
        Case(
            "token-client_id-repeated",
            "POST",
            "/token",
            body=f"grant_type=client_credentials&client_id={CID}&client_id=other",
        ),
        Case(
            "token-basic-long",
            "POST",
            "/token",
            body="grant_type=client_credentials",
            headers={"Authorization": "Basic " + "QUFB" * 2000},
        ),
        Case(
            "token-basic-nul",
            "POST",
            "/token",
            body="grant_type=client_credentials",
            headers={"Authorization": "Basic " + base64.b64encode(b"a\x00:b\x00").decode()},
        ),
        Case(
            "token-basic-percent",
            "POST",
            "/token",
            body="grant_type=client_credentials",
            headers={"Authorization": "Basic " + base64.b64encode(b"%ff%fe:%ff").decode()},
        ),
        Case(
            "token-basic-latin1",
            "POST",
            "/token",
            body="grant_type=client_credentials",
            headers={"Authorization": "Basic \xff\xfe"},
        ),
        # --- /userinfo ---------------------------------------------------------------
        Case("userinfo-bearer-empty", "GET", "/userinfo", headers={"Authorization": "Bearer"}),
        Case("userinfo-bearer-spaces", "GET", "/userinfo", headers={"Authorization": "Bearer    "}),
        Case(
            "userinfo-bearer-two-words", "GET", "/userinfo", headers={"Authorization": "Bearer a b"}
        ),
        Case(
            "userinfo-bearer-long",
            "GET",
            "/userinfo",
            headers={"Authorization": "Bearer " + "x" * 6000},
        ),
        Case(
            "userinfo-bearer-latin1",
            "GET",
            "/userinfo",
            headers={"Authorization": "Bearer \xff\xfe"},
        ),
        Case("userinfo-basic", "GET", "/userinfo", headers={"Authorization": "Basic Og=="}),
        Case("userinfo-body-bad-utf8", "POST", "/userinfo", body="access_token=%ff%fe"),
        Case("userinfo-body-nul", "POST", "/userinfo", body="access_token=%00"),
        Case("userinfo-body-repeated", "POST", "/userinfo", body="access_token=a&access_token=b"),
        Case(
            "userinfo-body-json",
            "POST",
            "/userinfo",
            body='{"access_token": ["x"]}',
            content_type="application/json",
        ),
        Case("userinfo-body-huge", "POST", "/userinfo", body="access_token=" + "x" * 70_000),
        # --- /revoke and /introspect ----------------------------------------------------
        *[
            case
            for endpoint in ("revoke", "introspect")
            for case in (
                Case(
                    f"{endpoint}-missing-token",
                    "POST",
                    f"/{endpoint}",
                    body="x=1",
                    headers={"Authorization": "BASIC_AUTH"},
                ),
                Case(
                    f"{endpoint}-bad-utf8",
                    "POST",
                    f"/{endpoint}",
                    body="token=%ff%fe",
                    headers={"Authorization": "BASIC_AUTH"},
                    ok=True,
                ),
                Case(
                    f"{endpoint}-nul",
                    "POST",
                    f"/{endpoint}",
                    body="token=%00",
                    headers={"Authorization": "BASIC_AUTH"},
                    ok=True,
                ),
                Case(
                    f"{endpoint}-long",
                    "POST",
                    f"/{endpoint}",
                    body="token=" + "t" * 20_000,
                    headers={"Authorization": "BASIC_AUTH"},
                    ok=True,
                ),
                Case(
                    f"{endpoint}-repeated",
                    "POST",
                    f"/{endpoint}",
                    body="token=a&token=b",
                    headers={"Authorization": "BASIC_AUTH"},
                ),
                Case(
                    f"{endpoint}-bad-hint",
                    "POST",
                    f"/{endpoint}",
                    body="token=a&token_type_hint=%ff",
                    headers={"Authorization": "BASIC_AUTH"},
                ),
                Case(
                    f"{endpoint}-json",
                    "POST",
                    f"/{endpoint}",
                    body='{"token": 1}',
                    content_type="application/json",
                    headers={"Authorization": "BASIC_AUTH"},
                ),
                Case(
                    f"{endpoint}-huge",
                    "POST",
                    f"/{endpoint}",
                    body="token=" + "x" * 70_000,
                    headers={"Authorization": "BASIC_AUTH"},
                ),
                Case(f"{endpoint}-no-auth", "POST", f"/{endpoint}", body="token=a"),
                Case(
                    f"{endpoint}-client_id-bad-utf8",
                    "POST",
                    f"/{endpoint}",
                    body="token=a&client_id=%ff",
                ),
                Case(f"{endpoint}-get", "GET", f"/{endpoint}", "token=a"),
            )
        ],
        # --- /logout ---------------------------------------------------------------------
        Case("logout-hint-bad-utf8", "GET", "/logout", "id_token_hint=%ff%fe"),
        Case("logout-hint-nul", "GET", "/logout", "id_token_hint=a%00b"),
        Case("logout-hint-long", "GET", "/logout", f"id_token_hint={LONG}"),
        Case(
            "logout-uri-bad-utf8",
            "GET",
            "/logout",
            f"client_id={CID}&post_logout_redirect_uri=%ff%fe",
            ok=True,
        ),
        Case("logout-client_id-bad-utf8", "GET", "/logout", "client_id=%ff%fe", ok=True),
        Case("logout-client_id-long", "GET", "/logout", f"client_id={LONG}", ok=True),
        Case("logout-client_id-nul", "GET", "/logout", "client_id=%00", ok=True),
        Case("logout-state-nul", "GET", "/logout", f"client_id={CID}&state=%00", ok=True),
        Case("logout-repeated-hint", "GET", "/logout", "id_token_hint=a&id_token_hint=b"),
        Case("logout-post-bad-utf8", "POST", "/logout", body="id_token_hint=%ff&decision=logout"),
        Case(
            "logout-post-json",
            "POST",
            "/logout",
            body='{"decision": "logout"}',
            content_type="application/json",
            ok=True,
        ),
        Case("logout-post-huge", "POST", "/logout", body="id_token_hint=" + "x" * 70_000),
        *[
            Case(f"logout-weird-jwt-{n}", "GET", "/logout", "id_token_hint=" + quote(jwt))
            for n, jwt in enumerate(WEIRD_JWTS)
        ],
        *[
            Case(
                f"authorize-weird-hint-{n}",
                "GET",
                "/authorize",
                f"{GOOD}&{PKCE}&id_token_hint=" + quote(jwt),
            )
            for n, jwt in enumerate(WEIRD_JWTS)
        ],
        # --- elsewhere ------------------------------------------------------------------
        Case("discovery-post", "POST", "/.well-known/openid-configuration"),
        Case("jwks-bad-query", "GET", "/jwks.json", "x=%ff%fe", ok=True),
        Case("unknown-path", "GET", "/no/such/path%ff"),
        # --- found by the fuzzer (test_fuzz_routes.py) and the outside review ---------
        *[
            # Authlib echoes the value into error_description, which refuses it (a 500).
            Case(
                f"authorize-response_type-{name}",
                "GET",
                "/authorize",
                f"client_id={CID}&redirect_uri={RURI}&scope=openid&{PKCE}&response_type={value}",
            )
            for name, value in (("non-ascii", "c%C3%B6de"), ("quote", "co%22de"), ("bs", "co%5Cde"))
        ],
        Case(
            "authorize-repeated-non-ascii-name",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&c%C3%B6de=1&c%C3%B6de=2",
        ),
        Case(
            "authorize-control-char-non-ascii-name",
            "GET",
            "/authorize",
            f"{GOOD}&{PKCE}&%C3%B6=%01",
        ),
        Case(
            "token-repeated-non-ascii-name",
            "POST",
            "/token",
            body="grant_type=client_credentials&%C3%B6=1&%C3%B6=2",
            headers={"Authorization": "BASIC_AUTH"},
        ),
        *[
            # Authlib judged https from the Host header: a foreign Host on http was a 500.
            Case(
                f"{path[1:]}-foreign-host",
                "POST",
                path,
                body="token=x&grant_type=client_credentials",
                headers={"Authorization": "BASIC_AUTH", "Host": "portal.example.org"},
                ok=True,  # the Host has no say: the client's own request succeeds
                may_audit=True,
            )
            for path in ("/token", "/revoke", "/introspect")
        ],
        *[
            # A DNS label of 64+ characters broke URL building: 500 and a traceback on every URL.
            Case(f"host-long-label-{path}", "GET", path, headers={"Host": host})
            for path in ("/", "/login", "/.well-known/openid-configuration", "/no/such/path")
            for host in ("a" * 64 + ".example.org", "a..b", "[::1", "host:port")
        ],
        Case("dev-outbox-huge-id", "GET", "/dev/outbox/" + "9" * 40 + "/html"),
    ]
    return cases


CASES = _cases()


@pytest.fixture
def rp(factory: Factory):
    factory.account()
    return factory.client(client_id=CID)


BROWSER_PATHS = ("/authorize", "/authorize/resume", "/login", "/consent", "/logout")


def _sign_in_and_consent(oidc: OIDCActions, rp, services) -> None:
    """A browser with an SSO session and consent given, so requests reach issuance."""
    oidc.sign_in()
    with services.db.transaction() as uow:
        account = uow.accounts.by_username("alice")
        uow.consents.grant(account.id, rp.id, frozenset(ALL_SCOPES.split()), now=datetime.now(UTC))


def _send(client: FlaskClient, case: Case, factory: Factory) -> Any:
    headers = dict(case.headers)
    if headers.get("Authorization") == "BASIC_AUTH":
        headers.update(basic(CID, factory.secrets[CID]))
    body = case.body
    if case.with_csrf:
        token = csrf_token(client.get("/login").text)
        assert isinstance(body, str)
        body = f"{body}&csrf_token={token}"
    path = case.path + ("?" + case.query if case.query else "")
    return client.open(
        path,
        method=case.method,
        data=body,
        content_type=case.content_type,
        headers=headers,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_4xx_and_writes_nothing(
    oidc: OIDCActions, client: FlaskClient, factory: Factory, services, rp, case: Case
) -> None:
    if case.path in BROWSER_PATHS:
        _sign_in_and_consent(oidc, rp, services)
    before = row_counts(services)
    response = _send(client, case, factory)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if not case.ok:
        location = response.headers.get("Location", "")
        assert response.status_code >= 400 or "error=" in location, (
            response.status_code,
            location,
        )
    after = row_counts(services)
    if case.may_audit:
        after["audit_events"] = before["audit_events"]
    assert after == before


@pytest.mark.parametrize(
    "path",
    [
        "/authorize",
        "/token",
        "/login",
        "/logout",
        "/revoke",
        "/introspect",
        "/userinfo",
        "/consent",
    ],
)
def test_huge_bodies_are_413(client: FlaskClient, path: str) -> None:
    response = client.post(path, data="a=" + "x" * 70_000, content_type=FORM)
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/userinfo"])
def test_json_endpoints_answer_errors_in_json(client: FlaskClient, path: str) -> None:
    response = client.post(path, data="a=" + "x" * 70_000, content_type=FORM)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "size", "status"),
    [
        ("POST", "/api/invitations", 70_000, 413),
        ("GET", "/api/no-such-thing", 1, 404),
        ("PUT", "/api/invitations", 1, 405),
        ("POST", "/api/admin/portals/north%00side/invitations", 1, 400),
    ],
)
def test_json_apis_answer_errors_in_json_whatever_the_accept_header(
    client: FlaskClient, method: str, path: str, size: int, status: int
) -> None:
    """An API client parses JSON; an HTML error page is a second failure on its side."""
    response = client.open(
        path, method=method, data="a=" + "x" * size, content_type=FORM, headers={"Accept": "*/*"}
    )
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]


def test_missing_grant_type_is_invalid_request(client: FlaskClient, rp, factory) -> None:
    response = client.post("/token", data={}, headers=basic(CID, factory.secrets[CID]))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_unknown_grant_type_is_unsupported_grant_type(client: FlaskClient, rp, factory) -> None:
    response = client.post(
        "/token", data={"grant_type": "password"}, headers=basic(CID, factory.secrets[CID])
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_token_request_as_json_is_refused(client: FlaskClient, rp, factory) -> None:
    """RFC 6749 §3.2: the token endpoint takes application/x-www-form-urlencoded."""
    response = client.post(
        "/token",
        json={"grant_type": "client_credentials"},
        headers=basic(CID, factory.secrets[CID]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_token_endpoint_refuses_get(client: FlaskClient) -> None:
    response = client.get("/token", query_string={"grant_type": "client_credentials"})
    assert response.status_code == 405


def test_repeated_token_parameters_are_invalid_request(client: FlaskClient, rp, factory) -> None:
    response = client.post(
        "/token",
        data="grant_type=client_credentials&scope=openid&scope=profile",
        content_type=FORM,
        headers=basic(CID, factory.secrets[CID]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_nul_in_admin_portal_slug_is_400(client: FlaskClient, factory: Factory) -> None:
    """PostgreSQL text cannot hold NUL: the slug lookup failed in the driver (a 500)."""
    admin = factory.client(name="Staff", scope="idp:admin", grant_types=["client_credentials"])
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "idp:admin"},
        headers=basic(admin.client_id, factory.secrets[admin.client_id]),
    )
    assert response.status_code == 200, response.text
    token = response.get_json()["access_token"]
    for method in ("GET", "POST"):
        response = client.open(
            "/api/admin/portals/north%00side/invitations",
            method=method,
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 400, (method, response.status_code)
