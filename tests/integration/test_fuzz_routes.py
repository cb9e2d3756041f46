"""Fuzzing every route: hostile input anywhere in a request never yields a 5xx.

The routes and methods come from ``app.url_map`` and the form field names from the
templates, so a new page or endpoint is fuzzed without anyone adding it here.
Hypothesis draws hostile strings (NUL, quotes, backslashes, non-ASCII, over-long
DNS labels, huge numbers) for path parameters, query and form fields, JSON bodies
and headers (Host, cookies, Authorization), mixed with valid values (a registered
client, a signed-in session, an admin token) so that requests get past the first
check and into the flows. The table tests in ``test_bad_input.py`` pin the cases
found so far; this finds the next ones.

Bounded: ``EXAMPLES`` requests per route and method (about a minute per backend
on two cores). It prints how many requests it sent and how many 5xx it saw, and
fails listing the 5xx requests, each enough to replay by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from idp.settings import PROJECT_ROOT

from ..conftest import REDIRECT_URI, Factory
from ..helpers import OIDCActions, basic, pkce_pair

# Requests per route and method; ~200 route/method pairs.
EXAMPLES = 12

# Parameter names of the protocol (OIDC Core, RFC 6749/7009/7662, RP-initiated logout).
PROTOCOL_NAMES = (
    "client_id redirect_uri response_type response_mode scope state nonce prompt max_age "
    "id_token_hint login_hint claims request request_uri ui_locales display acr_values "
    "code_challenge code_challenge_method grant_type code code_verifier refresh_token "
    "client_secret client_assertion client_assertion_type token token_type_hint "
    "access_token post_logout_redirect_uri logout_hint i t"
).split()

# Values chosen because each has broken something somewhere: encodings, parsers,
# PostgreSQL text, error descriptions (RFC 6749 §5.2 allows printable ASCII only).
NASTY = [
    "",
    "\x00",
    "a\x00b",
    '"',
    "\\",
    "co\u0308de",
    "cödé",
    "😀",
    "\u202e",
    "\uffff",
    "\x7f",
    "\r\n",
    "\t",
    " ",
    "%",
    "%00",
    "%zz",
    "../../etc/passwd",
    "<script>x</script>",
    "' OR 1=1--",
    "null",
    "[]",
    "{}",
    "-1",
    "0",
    "9" * 40,
    "1e999",
    "NaN",
    "١٢٣",
    "１２３",
    "x" * 5000,
    "a" * 64 + ".example.org",
    "code id_token",
    "openid\x0bprofile",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "Basic //79",
]

_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _form_names() -> list[str]:
    """Every fixed field name the templates use (so new forms are fuzzed too)."""
    names: set[str] = set()
    for template in Path(PROJECT_ROOT / "templates").rglob("*.html"):
        names.update(re.findall(r'name="([a-z_]+)"', template.read_text()))
    return sorted(names)


@dataclass
class Valid:
    """Values that pass the first checks, so fuzzed requests reach deeper code."""

    client_id: str
    secret: str
    session_cookie: str
    admin_token: str
    challenge: str
    verifier: str

    def values(self) -> list[str]:
        return [
            self.client_id,
            REDIRECT_URI,
            "code",
            "openid profile email",
            self.challenge,
            "S256",
            self.verifier,
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "alice",
            "correct horse battery staple",
            "allow",
            "logout",
            "northside",
            "1990-02-03",
            "02139",
        ]


@dataclass
class Report:
    sent: int = 0
    unsendable: int = 0
    seen_5xx: int = 0
    # One example per (method, route, failure), each enough to replay the request.
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _hostile(valid: Valid) -> st.SearchStrategy[str]:
    text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
    known = st.sampled_from(NASTY + valid.values())
    mixed = st.tuples(st.sampled_from(valid.values()), st.sampled_from(NASTY)).map("".join)
    return st.one_of(known, known, mixed, text)


def _header_text() -> st.SearchStrategy[str]:
    """Header values as a WSGI server hands them over: latin-1, no line breaks."""
    latin1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF)
    return st.text(latin1, max_size=40)


def _hosts() -> st.SearchStrategy[str]:
    label = st.text(st.sampled_from("abcxyz019-_."), min_size=1, max_size=70)
    return st.one_of(
        st.sampled_from(
            [
                "localhost",
                "a" * 64 + ".example.org",
                "a" * 63 + ".example.org",
                ".",
                "..",
                "[::1]",
                "[::1",
                "127.0.0.1:99999",
                "host:port",
                "ex\xe4mple.org",
                "b\xfccher.de:80",
                "xn--zz.org",
                "a." * 130,
                "",
            ]
        ),
        label,
        _header_text(),
    )


def _request(valid: Valid, names: list[str], rule: str, method: str) -> st.SearchStrategy[Any]:
    hostile = _hostile(valid)

    def path_for(draw: Any) -> str:
        def fill(match: re.Match[str]) -> str:
            if match.group(1) == "int":
                number = st.integers(min_value=-(10**30), max_value=10**30).map(str)
                return quote(draw(st.one_of(number, hostile)), safe="")
            return quote(draw(hostile), safe="")

        return _PARAM.sub(fill, rule)

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        fields = st.lists(
            st.tuples(st.one_of(st.sampled_from(names), hostile), hostile), max_size=8
        )
        headers: dict[str, str] = {}
        if draw(st.booleans()):
            headers["Host"] = draw(_hosts())
        cookie = draw(
            st.sampled_from(
                [
                    None,
                    f"idp_session={valid.session_cookie}",
                    "idp_session=",
                    "idp_csrf=.eJ",
                    "idp_session=\x01",
                ]
            )
            | _header_text().map(lambda v: f"idp_session={v}; idp_csrf={v}")
        )
        if cookie is not None:
            headers["Cookie"] = cookie
        auth = draw(
            st.sampled_from(
                [
                    None,
                    f"Bearer {valid.admin_token}",
                    basic(valid.client_id, valid.secret)["Authorization"],
                    "Basic //79",
                    "Bearer ",
                ]
            )
            | _header_text().map(lambda v: f"Bearer {v}")
            | _header_text().map(lambda v: f"Basic {v}")
        )
        if auth is not None:
            headers["Authorization"] = auth
        for name in ("Accept", "Referer", "X-Forwarded-For", "User-Agent", "Origin"):
            if draw(st.integers(0, 3)) == 0:
                headers[name] = draw(_header_text())
        body: dict[str, Any] = {}
        kind = draw(st.sampled_from(["form", "form", "json", "raw", "none"]))
        if kind == "form":
            body["data"] = draw(fields)
        elif kind == "json":
            scalar = st.one_of(hostile, st.integers(), st.none(), st.booleans(), st.floats())
            value = st.one_of(scalar, st.lists(scalar, max_size=3))
            body["json"] = draw(st.dictionaries(st.sampled_from(names), value, max_size=8))
        elif kind == "raw":
            body["data"] = draw(st.binary(max_size=200))
            body["content_type"] = draw(
                st.sampled_from(
                    ["application/x-www-form-urlencoded", "application/json", "text/plain"]
                )
            )
        return {
            "path": path_for(draw),
            "method": method,
            "query_string": draw(fields),
            "headers": headers,
            "csrf": draw(st.booleans()),
            **body,
        }

    return build()


@pytest.fixture
def valid(oidc: OIDCActions, factory: Factory, client: FlaskClient) -> Valid:
    rp = factory.client()
    admin = factory.client(
        name="Staff tools", scope="idp:admin", grant_types=["client_credentials"]
    )
    factory.account(username="alice")
    with factory.services.db.transaction() as uow:
        uow.portals.add(slug="northside", name="Northside", now=factory.services.clock())
    token = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "idp:admin"},
        headers=basic(admin.client_id, factory.secrets[admin.client_id]),
    )
    assert token.status_code == 200, token.text
    oidc.sign_in()
    cookie = oidc.session_cookie()
    assert cookie
    verifier, challenge = pkce_pair()
    return Valid(
        client_id=rp.client_id,
        secret=factory.secrets[rp.client_id],
        session_cookie=cookie,
        admin_token=token.get_json()["access_token"],
        challenge=challenge,
        verifier=verifier,
    )


class _Edge:
    """Wraps the app's WSGI callable: tells an exception the app let escape (a 500
    from any real server) from one the test client raised building the request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.escaped: BaseException | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.escaped = None
        try:
            return self.app(environ, start_response)
        except Exception as exc:
            self.escaped = exc
            raise


def _send(app: Flask, edge: _Edge, rule: str, spec: dict[str, Any], report: Report) -> None:
    request = dict(spec)
    # Half the requests skip the CSRF check, so that forms reach their flows.
    app.config["WTF_CSRF_ENABLED"] = request.pop("csrf")
    request["query_string"] = MultiDict(request["query_string"])
    if isinstance(request.get("data"), list):
        request["data"] = MultiDict(request["data"])
    fresh = app.test_client(use_cookies=False)
    edge.escaped = None
    try:
        response = fresh.open(**request)
    except Exception as exc:
        if edge.escaped is None:
            # The test client could not build or read this request: not the app's doing.
            report.unsendable += 1
            return
        status, failure = 500, f"500 {type(exc).__name__}: {str(exc)[:120]}"
    else:
        status, failure = response.status_code, str(response.status_code)
        response.close()
    report.sent += 1
    if status >= 500:
        report.seen_5xx += 1
        key = (spec["method"], rule, failure)
        report.failures.setdefault(key, repr(spec)[:800])


def _fuzzer(
    app: Flask, edge: _Edge, requests: st.SearchStrategy[Any], rule: str, report: Report
) -> Any:
    """``EXAMPLES`` requests for one route and method, each recorded in ``report``."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=requests)
    def fuzz(spec: dict[str, Any]) -> None:
        _send(app, edge, rule, spec, report)

    return fuzz


def test_no_route_answers_5xx_to_hostile_input(
    app: Flask, valid: Valid, capsys: pytest.CaptureFixture[str]
) -> None:
    names = sorted(set(PROTOCOL_NAMES) | set(_form_names()))
    report = Report()
    pairs = sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods or ())
    )
    edge = _Edge(app.wsgi_app)
    app.wsgi_app = edge  # type: ignore[method-assign]
    for rule, method in pairs:
        _fuzzer(app, edge, _request(valid, names, rule, method), rule, report)()
    with capsys.disabled():
        print(
            f"\nfuzz: {report.sent} requests over {len(pairs)} routes and methods, "
            f"{report.seen_5xx} answered 5xx ({report.unsendable} the test client could not send)"
        )
    assert report.sent >= len(pairs) * EXAMPLES // 2
    assert not report.failures, (
        f"{report.seen_5xx} of {report.sent} requests answered 5xx, "
        f"{len(report.failures)} distinct (method, route, failure):\n"
        + "\n".join(f"{key}: {example}" for key, example in report.failures.items())
    )
