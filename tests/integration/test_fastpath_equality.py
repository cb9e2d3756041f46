"""The fast path answers token, revocation, introspection and UserInfo requests exactly
as the Flask routes do (idp/web/fastpath.py; issue 12).

Every case is sent once to the provider without the fast path (the reference) and
once to the provider with it, each time on freshly made state, and the two answers
must agree in status, headers, body, audit events (IP and user agent included) and
rows written (tests/fastpath_compare.py). Each case also says whether the fast path
answers it itself or leaves it to Flask, and that is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from idp.app import create_app
from idp.records import ClientRecord
from idp.services import Services

from ..conftest import Factory
from ..fastpath_compare import (
    ADDRESS,
    AGENT,
    Answer,
    Env,
    Sent,
    assert_same_answer,
    code_exchange,
    post,
    request,
    with_cookie,
)
from ..helpers import MovableClock, OIDCActions, basic, bearer

# --- the token endpoint ---------------------------------------------------------------------


def _replayed_code(env: Env) -> Sent:
    sent = code_exchange(env)
    first = env.oidc.client.post("/token", data=sent.kw["data"], headers=env.basic())
    assert first.status_code == 200, first.text
    return sent


def _refresh(env: Env, **extra: str) -> Sent:
    tokens = env.tokens()
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **extra}
    return post("/token", data, headers=env.basic())


def _reused_refresh(env: Env) -> Sent:
    tokens = env.tokens()
    assert env.oidc.refresh(env.rp, tokens["refresh_token"]).status_code == 200
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    return post("/token", data, headers=env.basic())


def _foreign_refresh(env: Env) -> Sent:
    tokens = env.tokens()
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    return post("/token", data, headers=env.basic(env.other))


CC = {"grant_type": "client_credentials"}


class _Unreadable(BytesIO):
    """A body whose reading fails (the connection broke)."""

    def read(self, *_args: Any) -> bytes:
        raise ConnectionResetError("the client went away")

    readinto = readline = read  # type: ignore[assignment]


TOKEN_CASES: dict[str, tuple[Callable[[Env], Sent], bool]] = {
    "client_credentials": (lambda env: post("/token", CC, headers=env.basic()), True),
    "client_credentials_scope": (
        lambda env: post("/token", {**CC, "scope": "openid profile"}, headers=env.basic()),
        True,
    ),
    "client_credentials_bad_scope_syntax": (
        lambda env: post("/token", {**CC, "scope": 'a"b'}, headers=env.basic()),
        True,
    ),
    "client_credentials_secret_post": (
        lambda env: post(
            "/token",
            {
                **CC,
                "client_id": env.rp.client_id,
                "client_secret": env.factory.secrets[env.rp.client_id],
            },
        ),
        True,
    ),
    "wrong_secret": (
        lambda env: post("/token", CC, headers=basic(env.rp.client_id, "not-the-secret")),
        True,
    ),
    "unknown_client": (lambda env: post("/token", CC, headers=basic("nobody", "x")), True),
    "undecodable_basic": (
        lambda env: post("/token", CC, headers={"Authorization": "Basic //79"}),
        True,
    ),
    "no_client_auth": (lambda env: post("/token", CC), True),
    "two_client_auth_methods": (
        lambda env: post(
            "/token",
            {**CC, "client_secret": env.factory.secrets[env.rp.client_id]},
            headers=env.basic(),
        ),
        True,
    ),
    "missing_grant_type": (lambda env: post("/token", {"scope": "x"}, headers=env.basic()), True),
    "empty_form": (
        lambda env: post(
            "/token", "", content_type="application/x-www-form-urlencoded", headers=env.basic()
        ),
        True,
    ),
    "unsupported_grant_type": (
        lambda env: post(
            "/token", {"grant_type": "password", "username": "a"}, headers=env.basic()
        ),
        True,
    ),
    "repeated_parameter": (
        lambda env: post(
            "/token",
            MultiDict([("grant_type", "client_credentials"), ("grant_type", "client_credentials")]),
            headers=env.basic(),
        ),
        True,
    ),
    "form_type_with_charset": (
        lambda env: post(
            "/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded; charset=utf-8",
            headers=env.basic(),
        ),
        True,
    ),
    "code": (code_exchange, True),
    "code_replayed": (_replayed_code, True),
    "code_wrong_verifier": (lambda env: code_exchange(env, code_verifier="x" * 50), True),
    "code_wrong_redirect_uri": (
        lambda env: code_exchange(env, redirect_uri="http://127.0.0.1:9000/other"),
        True,
    ),
    "code_unknown": (
        lambda env: post(
            "/token",
            {
                "grant_type": "authorization_code",
                "code": "no-such-code",
                "redirect_uri": "http://127.0.0.1:9000/callback",
                "code_verifier": "v" * 50,
            },
            headers=env.basic(),
        ),
        True,
    ),
    "refresh": (_refresh, True),
    "refresh_narrower_scope": (lambda env: _refresh(env, scope="openid"), True),
    "refresh_wider_scope": (lambda env: _refresh(env, scope="openid idp:admin"), True),
    "refresh_reused": (_reused_refresh, True),
    "refresh_other_client": (_foreign_refresh, True),
    # Left to Flask: anything Flask might answer differently around the view.
    "json_body": (lambda env: request("POST", "/token", json=CC, headers=env.basic()), False),
    "multipart_body": (
        lambda env: post("/token", CC, content_type="multipart/form-data", headers=env.basic()),
        False,
    ),
    "huge_body": (
        lambda env: post("/token", {**CC, "pad": "x" * 70_000}, headers=env.basic()),
        False,
    ),
    "nul_byte_in_value": (
        lambda env: post("/token", {"grant_type": "client_credentials\x00"}, headers=env.basic()),
        False,
    ),
    "nul_byte_in_name": (
        lambda env: post("/token", {**CC, "sc\x00ope": "openid"}, headers=env.basic()),
        False,
    ),
    "query_string": (lambda env: post("/token?lang=es", CC, headers=env.basic()), False),
    "cookie": (lambda env: with_cookie(post("/token", CC, headers=env.basic())), False),
    "body_shorter_than_its_length": (
        lambda env: post(
            "/token",
            input_stream=BytesIO(b"grant_type=client_cred"),
            environ_overrides={"CONTENT_LENGTH": "100"},
            content_type="application/x-www-form-urlencoded",
            headers=env.basic(),
        ),
        False,
    ),
    "body_unreadable": (
        lambda env: post(
            "/token",
            input_stream=_Unreadable(b"grant_type=client_credentials"),
            content_type="application/x-www-form-urlencoded",
            headers=env.basic(),
        ),
        False,
    ),
    "get": (lambda env: request("GET", "/token"), False),
    "head": (lambda env: request("HEAD", "/token"), False),
    "options": (lambda env: request("OPTIONS", "/token"), False),
    "put": (lambda env: request("PUT", "/token", data=CC, headers=env.basic()), False),
    "trailing_slash": (lambda env: post("/token/", CC, headers=env.basic()), False),
}


# --- introspection and revocation -------------------------------------------------------------


def _form(
    path: str, env: Env, token: str, client: ClientRecord | None = None, **extra: str
) -> Sent:
    return post(path, {"token": token, **extra}, headers=env.basic(client))


def _revoked_access(env: Env) -> str:
    token = env.tokens()["access_token"]
    assert env.oidc.revoke(env.rp, token).status_code == 200
    return str(token)


def _expired_access(env: Env) -> str:
    token = env.tokens()["access_token"]
    assert env.clock is not None
    env.clock.advance(env.services.settings.tokens.access_token + 1)
    return str(token)


ENDPOINT_CASES: dict[str, tuple[Callable[[Env, str], Sent], bool]] = {
    "user_access_token": (lambda env, p: _form(p, env, env.tokens()["access_token"]), True),
    "service_access_token": (lambda env, p: _form(p, env, env.service_token()), True),
    "refresh_token": (lambda env, p: _form(p, env, env.tokens()["refresh_token"]), True),
    "refresh_token_hinted": (
        lambda env, p: _form(
            p, env, env.tokens()["refresh_token"], token_type_hint="refresh_token"
        ),
        True,
    ),
    "access_token_hinted_as_refresh": (
        lambda env, p: _form(p, env, env.tokens()["access_token"], token_type_hint="refresh_token"),
        True,
    ),
    "unknown_token": (lambda env, p: _form(p, env, "no-such-token"), True),
    "revoked_access_token": (lambda env, p: _form(p, env, _revoked_access(env)), True),
    "expired_access_token": (lambda env, p: _form(p, env, _expired_access(env)), True),
    "another_clients_token": (
        lambda env, p: _form(p, env, env.tokens()["access_token"], env.other),
        True,
    ),
    "public_client": (
        lambda env, p: post(
            p, {"token": env.tokens()["access_token"], "client_id": env.public.client_id}
        ),
        True,
    ),
    "missing_token": (lambda env, p: post(p, {"token_type_hint": "x"}, headers=env.basic()), True),
    "no_client_auth": (lambda env, p: post(p, {"token": "x"}), True),
    "wrong_secret": (
        lambda env, p: post(p, {"token": "x"}, headers=basic(env.rp.client_id, "nope")),
        True,
    ),
    "repeated_token": (
        lambda env, p: post(p, MultiDict([("token", "a"), ("token", "b")]), headers=env.basic()),
        True,
    ),
    "json_body": (
        lambda env, p: request("POST", p, json={"token": "x"}, headers=env.basic()),
        False,
    ),
    "nul_byte": (lambda env, p: _form(p, env, "x\x00y"), False),
    "get": (lambda env, p: request("GET", p), False),
}


# --- UserInfo ---------------------------------------------------------------------------------

USERINFO_CASES: dict[str, tuple[Callable[[Env], Sent], bool]] = {
    "get": (
        lambda env: request("GET", "/userinfo", headers=bearer(env.tokens()["access_token"])),
        True,
    ),
    "get_openid_only": (
        lambda env: request(
            "GET", "/userinfo", headers=bearer(env.tokens("openid")["access_token"])
        ),
        True,
    ),
    "post_header": (
        lambda env: request("POST", "/userinfo", headers=bearer(env.tokens()["access_token"])),
        True,
    ),
    "post_form": (
        lambda env: post("/userinfo", {"access_token": env.tokens()["access_token"]}),
        True,
    ),
    "post_form_repeated": (
        lambda env: post(
            "/userinfo",
            MultiDict([("access_token", env.tokens()["access_token"]), ("access_token", "x")]),
        ),
        True,
    ),
    "missing_token": (lambda env: request("GET", "/userinfo"), True),
    "unknown_token": (lambda env: request("GET", "/userinfo", headers=bearer("nope")), True),
    "service_token": (
        lambda env: request("GET", "/userinfo", headers=bearer(env.service_token("openid"))),
        True,
    ),
    "revoked_token": (
        lambda env: request("GET", "/userinfo", headers=bearer(_revoked_access(env))),
        True,
    ),
    "expired_token": (
        lambda env: request("GET", "/userinfo", headers=bearer(_expired_access(env))),
        True,
    ),
    "basic_scheme": (
        lambda env: request("GET", "/userinfo", headers={"Authorization": "Basic abc"}),
        True,
    ),
    "bare_scheme": (
        lambda env: request("GET", "/userinfo", headers={"Authorization": "Bearer"}),
        True,
    ),
    "token_in_query": (
        lambda env: request("GET", "/userinfo?access_token=" + env.tokens()["access_token"]),
        False,
    ),
    "get_with_body": (
        lambda env: request(
            "GET",
            "/userinfo",
            data="a=b",
            content_type="application/x-www-form-urlencoded",
            headers=bearer(env.tokens()["access_token"]),
        ),
        False,
    ),
    "head": (
        lambda env: request("HEAD", "/userinfo", headers=bearer(env.tokens()["access_token"])),
        False,
    ),
    "post_json": (
        lambda env: request("POST", "/userinfo", json={"access_token": "x"}),
        False,
    ),
    "cookie": (
        lambda env: with_cookie(
            request("GET", "/userinfo", headers=bearer(env.tokens()["access_token"]))
        ),
        False,
    ),
}


# --- fixtures and the tests -------------------------------------------------------------------


@pytest.fixture
def flask_app(services: Services) -> Flask:
    """The reference: every request answered by the Flask routes."""
    return create_app(services=services, fast_path=False)


@pytest.fixture
def env(oidc: OIDCActions, factory: Factory, services: Services, clock: MovableClock) -> Env:
    return Env.make(oidc, factory, services, clock)


def _check(
    app: Flask, flask_app: Flask, env: Env, prepare: Callable[[], Sent], fast: bool
) -> Answer:
    return assert_same_answer(
        fast_app=app,
        flask_app=flask_app,
        services=env.services,
        prepare=prepare,
        answered_fast=fast,
    )


@pytest.mark.parametrize("case", sorted(TOKEN_CASES))
def test_token_endpoint(app: Flask, flask_app: Flask, env: Env, case: str) -> None:
    make, fast = TOKEN_CASES[case]
    _check(app, flask_app, env, lambda: make(env), fast)


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
@pytest.mark.parametrize("case", sorted(ENDPOINT_CASES))
def test_introspection_and_revocation(
    app: Flask, flask_app: Flask, env: Env, case: str, path: str
) -> None:
    make, fast = ENDPOINT_CASES[case]
    _check(app, flask_app, env, lambda: make(env, path), fast)


@pytest.mark.parametrize("case", sorted(USERINFO_CASES))
def test_userinfo(app: Flask, flask_app: Flask, env: Env, case: str) -> None:
    make, fast = USERINFO_CASES[case]
    _check(app, flask_app, env, lambda: make(env), fast)


def test_the_answers_are_the_expected_ones(app: Flask, flask_app: Flask, env: Env) -> None:
    """Equal, and right: a few answers spelled out (the cases above only compare)."""

    def ok_token(answer: Answer) -> None:
        assert answer.status == "200 OK"
        headers = dict(answer.headers)
        assert headers["Cache-Control"] == "no-store"
        assert headers["Pragma"] == "no-cache"
        assert headers["X-Frame-Options"] == "DENY"
        assert [e["type"] for e in answer.audit] == ["token_issued"]
        assert answer.audit[0]["ip"] == ADDRESS
        assert answer.audit[0]["user_agent"] == AGENT

    _check_with(app, flask_app, env, TOKEN_CASES["client_credentials"][0], ok_token)

    def challenge(answer: Answer) -> None:
        assert answer.status == "401 UNAUTHORIZED"
        assert dict(answer.headers)["WWW-Authenticate"] == 'Bearer realm="userinfo"'

    _check_with(app, flask_app, env, USERINFO_CASES["missing_token"][0], challenge)

    def reuse(answer: Answer) -> None:
        assert answer.status == "400 BAD REQUEST"
        assert "grant_revoked" in [e["type"] for e in answer.audit]

    _check_with(app, flask_app, env, _reused_refresh, reuse)


def _check_with(
    app: Flask,
    flask_app: Flask,
    env: Env,
    make: Callable[[Env], Sent],
    check: Callable[[Answer], None],
) -> None:
    assert_same_answer(
        fast_app=app,
        flask_app=flask_app,
        services=env.services,
        prepare=lambda: make(env),
        answered_fast=True,
        check=check,
    )


@pytest.mark.settings(trusted_proxies=1)
def test_behind_a_proxy_the_audit_names_the_forwarded_address(
    app: Flask, flask_app: Flask, env: Env
) -> None:
    """ProxyFix still runs before the fast path: the proxy's word, not the peer's."""

    def forwarded(answer: Answer) -> None:
        assert answer.audit[0]["ip"] == "198.51.100.7"

    _check_with(
        app,
        flask_app,
        env,
        lambda env: post(
            "/token",
            CC,
            headers={
                **env.basic(),
                "X-Forwarded-For": "198.51.100.7",
                "X-Forwarded-Proto": "https",
            },
        ),
        forwarded,
    )


def test_a_cookie_made_a_second_later_compares_equal_but_not_another_lifetime() -> None:
    """The ``?lang=`` case failed a CI run: both apps set the language cookie, and its
    Expires (now + Max-Age) differed when the two answers straddled a second."""
    from werkzeug.http import dump_cookie

    from ..fastpath_compare import stable_header_value

    def cookie(expires: int, max_age: int = 3600) -> str:
        value = dump_cookie("lang", "es", max_age=max_age, expires=expires, httponly=True)
        return stable_header_value("Set-Cookie", value)

    assert dump_cookie("lang", "es", expires=1_000) != dump_cookie("lang", "es", expires=1_001)
    assert cookie(1_000) == cookie(1_001)
    assert cookie(1_000) != cookie(1_000, max_age=60)
    assert stable_header_value("Cache-Control", "no-store") == "no-store"
