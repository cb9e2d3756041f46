"""Proxy sessions through the fast path (idp/web/fastpath.py): a representative's tokens
get the same answers from it as from the Flask routes (issue 10's claims, the patient
as introspection's ``sub`` with ``act``, the proxy audit events).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from idp.app import create_app
from idp.services import Services
from tests.fastpath_compare import Answer, Sent, assert_same_answer, post, request
from tests.helpers import OIDCActions, basic, bearer

from .conftest import Practice
from .test_proxy_signin import SCOPE, Family, choose, code_after, proxy_tokens, to_picker


@pytest.fixture
def family(practice: Practice, northside, ehr: str, admin: str) -> Family:  # type: ignore[no-untyped-def]
    family = Family(practice, northside, ehr, admin)
    family.child(dob="2015-01-01")
    return family


def _client_auth(family: Family) -> dict[str, str]:
    secret = family.practice.factory.secrets[family.rp.client_id]
    return basic(family.rp.client_id, secret)


def _browser(app: Flask, family: Family) -> OIDCActions:
    """A fresh browser for each sign-in (the picker shows after a password sign-in)."""
    return OIDCActions(app.test_client(), family.practice.factory)


def _code(app: Flask, family: Family) -> Sent:
    oidc = _browser(app, family)
    req = oidc.request(family.rp, scope=SCOPE)
    to_picker(oidc, req)
    code = code_after(oidc, choose(oidc, "MRN-7"), req)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": req.redirect_uri,
        "code_verifier": req.verifier,
    }
    return post("/token", data, headers=_client_auth(family))


def _tokens(app: Flask, family: Family) -> dict[str, str]:
    return proxy_tokens(_browser(app, family), family)


CASES: dict[str, Callable[[Flask, Family], Sent]] = {
    "code_exchange": _code,
    "refresh": lambda app, family: post(
        "/token",
        {"grant_type": "refresh_token", "refresh_token": _tokens(app, family)["refresh_token"]},
        headers=_client_auth(family),
    ),
    "userinfo": lambda app, family: request(
        "GET", "/userinfo", headers=bearer(_tokens(app, family)["access_token"])
    ),
    "introspect_access_token": lambda app, family: post(
        "/introspect",
        {"token": _tokens(app, family)["access_token"]},
        headers=_client_auth(family),
    ),
    "introspect_refresh_token": lambda app, family: post(
        "/introspect",
        {"token": _tokens(app, family)["refresh_token"]},
        headers=_client_auth(family),
    ),
    "revoke_refresh_token": lambda app, family: post(
        "/revoke",
        {"token": _tokens(app, family)["refresh_token"]},
        headers=_client_auth(family),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_proxy_tokens_answer_the_same(
    app: Flask, services: Services, family: Family, case: str
) -> None:
    def proxy_answer(answer: Answer) -> None:
        assert answer.status == "200 OK", answer.body
        if case in ("code_exchange", "refresh"):
            assert b'"patient": "MRN-7"' in answer.body
            assert answer.audit and answer.audit[-1]["details"]["acting_for"]
        if case == "userinfo":
            assert b'"proxy"' in answer.body
        if case.startswith("introspect"):
            assert b'"act"' in answer.body

    assert_same_answer(
        fast_app=app,
        flask_app=create_app(services=services, fast_path=False),
        services=services,
        prepare=lambda: CASES[case](app, family),
        answered_fast=True,
        check=proxy_answer,
    )
