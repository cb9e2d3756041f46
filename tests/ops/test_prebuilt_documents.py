"""Discovery, SMART configuration and JWKS answered before Flask (idp/web/prebuilt.py).

Each answer is compared with what Flask itself sends for the same request (the layer's
fall-through is Flask, so both are asked in one app), and the fast path must really
be taken: Flask is not called for a plain GET or HEAD.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from idp.oidc.documents import JsonDocument
from idp.oidc.keys import KeyRing, generate_keys, rotate_keys
from idp.web.prebuilt import PrebuiltDocuments, PrebuiltRoute
from idp.web.security import CONTENT_SECURITY_POLICY, HSTS_HEADER

from .scrape import value

DOCUMENTS = ("/.well-known/openid-configuration", "/.well-known/smart-configuration", "/jwks.json")
Answer = tuple[str, list[tuple[str, str]], bytes]


class CountingApp:
    """Flask behind the layer, counting how often the layer fell through to it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.calls += 1
        return self.app(environ, start_response)


@pytest.fixture
def prebuilt(app: Flask) -> Iterator[PrebuiltDocuments]:
    layer: Any = app.wsgi_app
    while not isinstance(layer, PrebuiltDocuments):
        layer = layer.app
    flask = layer.app
    layer.app = CountingApp(flask)
    # Flask builds discovery and SMART on their first request; then the layer has them.
    client = app.test_client()
    for path in DOCUMENTS:
        assert client.get(path).status_code == 200
    try:
        yield layer
    finally:
        layer.app = flask


def call(wsgi: Callable[..., Iterable[bytes]], method: str, path: str, **kw: Any) -> Answer:
    environ = EnvironBuilder(path=path, method=method, **kw).get_environ()
    started: list[Any] = []
    body = wsgi(environ, lambda status, headers, exc_info=None: started.extend([status, headers]))
    try:
        data = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return started[0], list(started[1]), data


def flask_answer(layer: PrebuiltDocuments, method: str, path: str, **kw: Any) -> Answer:
    return call(layer.app, method, path, **kw)


def etag_of(layer: PrebuiltDocuments, path: str) -> str:
    return dict(flask_answer(layer, "GET", path)[1])["ETag"]


@pytest.mark.parametrize("path", DOCUMENTS)
@pytest.mark.parametrize(
    ("method", "if_none_match"),
    [
        ("GET", None),
        ("HEAD", None),
        ("GET", "same"),
        ("HEAD", "same"),
        ("GET", "*"),
        ("GET", '"other", same'),
        ("GET", "weak"),  # If-None-Match as Flask compares it: a weak tag does not match
        ("GET", '"other"'),
    ],
)
def test_answered_without_flask_exactly_as_flask_answers(
    prebuilt: PrebuiltDocuments, path: str, method: str, if_none_match: str | None
) -> None:
    headers = {}
    if if_none_match is not None:
        etag = etag_of(prebuilt, path)
        raw = if_none_match.replace("same", etag).replace("weak", "W/" + etag)
        headers["If-None-Match"] = raw
    expected = flask_answer(prebuilt, method, path, headers=headers)
    calls = prebuilt.app.calls  # type: ignore[attr-defined]
    got = call(prebuilt, method, path, headers=headers)
    assert prebuilt.app.calls == calls, "the layer fell through to Flask"  # type: ignore[attr-defined]
    assert got == expected
    assert got[0].startswith("304" if if_none_match in ("same", "*", '"other", same') else "200")


@pytest.mark.parametrize("path", DOCUMENTS)
@pytest.mark.parametrize(
    ("method", "kw"),
    [
        ("POST", {}),  # 405 page, as today
        ("OPTIONS", {}),
        ("PUT", {"data": b"x"}),
        ("GET", {"query_string": "lang=es"}),  # Flask sets the language cookie
        ("GET", {"headers": {"Cookie": "idp_csrf=whatever"}}),
        ("GET", {"data": b"a=\x00", "content_type": "application/x-www-form-urlencoded"}),
    ],
)
def test_anything_else_is_left_to_flask(
    prebuilt: PrebuiltDocuments, path: str, method: str, kw: dict[str, Any]
) -> None:
    calls = prebuilt.app.calls  # type: ignore[attr-defined]
    got = call(prebuilt, method, path, **kw)
    assert prebuilt.app.calls == calls + 1
    assert got == flask_answer(prebuilt, method, path, **kw)


def test_post_is_still_refused_with_405(client: FlaskClient) -> None:
    for path in DOCUMENTS:
        assert client.post(path).status_code == 405


def test_other_paths_are_left_to_flask(prebuilt: PrebuiltDocuments) -> None:
    calls = prebuilt.app.calls  # type: ignore[attr-defined]
    for path in ("/jwks.json/", "/.well-known/openid-configuration/x", "/livez"):
        call(prebuilt, "GET", path)
    assert prebuilt.app.calls == calls + 3


def test_the_full_stack_adds_request_id_and_refuses_a_bad_host(
    prebuilt: PrebuiltDocuments, client: FlaskClient
) -> None:
    calls = prebuilt.app.calls  # type: ignore[attr-defined]
    response = client.get("/jwks.json", headers={"X-Request-ID": "lb-0123456789abcdef"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "lb-0123456789abcdef"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert json.loads(response.data)["keys"]
    assert client.get("/jwks.json").headers["X-Request-ID"]
    refused = client.get("/jwks.json", headers={"Host": "bad..host"})
    assert refused.status_code == 400
    assert refused.headers["X-Request-ID"]
    assert b"keys" not in refused.data
    assert prebuilt.app.calls == calls


def test_requests_answered_early_are_counted_under_their_route(
    prebuilt: PrebuiltDocuments, client: FlaskClient
) -> None:
    def count(route: str) -> float:
        text = client.get("/metrics").text
        return value(text, "idp_http_requests_total", route=route, method="GET", status="200")

    before = {path: count(path) for path in DOCUMENTS}
    calls = prebuilt.app.calls  # type: ignore[attr-defined]
    for path in DOCUMENTS:
        client.get(path)
        client.get(path)
    assert prebuilt.app.calls == calls
    for path in DOCUMENTS:
        assert count(path) == before[path] + 2, path


# --- the layer alone, over a key directory of its own ----------------------------------


def test_a_rotated_key_is_published_as_soon_as_the_ring_sees_it(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    generate_keys(keys_dir, now=1_000)
    now = [1_000.0]
    ring = KeyRing(keys_dir, publish_for=600, clock=lambda: now[0])
    layer = PrebuiltDocuments(
        _never, url_map=_map(), routes=[PrebuiltRoute("jwks", ring.jwks_document)], secure=False
    )
    before = json.loads(call(layer, "GET", "/jwks.json")[2])
    etag = _etag(call(layer, "GET", "/jwks.json"))
    rotate_keys(keys_dir, now=1_001, publish_for=600)
    now[0] += 1  # past KeyRing.RECHECK_SECONDS: the ring re-reads the directory
    status, headers, body = call(layer, "GET", "/jwks.json", headers={"If-None-Match": etag})
    assert status.startswith("200")
    kids = {k["kid"] for k in json.loads(body)["keys"]}
    assert {k["kid"] for k in before["keys"]} < kids  # old keys still published, new ones added
    assert dict(headers)["ETag"] != etag
    assert dict(headers)["Content-Length"] == str(len(body))


def test_hsts_behind_https_and_not_otherwise(tmp_path: Path) -> None:
    doc = JsonDocument(body=b"{}", etag="abc")
    for secure in (False, True):
        layer = PrebuiltDocuments(
            _never, url_map=_map(), routes=[PrebuiltRoute("jwks", lambda: doc)], secure=secure
        )
        headers = call(layer, "GET", "/jwks.json")[1]
        assert (HSTS_HEADER in headers) is secure


def test_a_document_that_fails_is_left_to_flask() -> None:
    def broken() -> JsonDocument:
        raise OSError("key directory gone")

    layer = PrebuiltDocuments(
        _fallback, url_map=_map(), routes=[PrebuiltRoute("jwks", broken)], secure=False
    )
    assert call(layer, "GET", "/jwks.json") == ("503 SERVICE UNAVAILABLE", [], b"flask")


def _map() -> Any:
    from werkzeug.routing import Map, Rule

    return Map([Rule("/jwks.json", endpoint="jwks", methods=["GET"])])


def _etag(answer: Answer) -> str:
    return dict(answer[1])["ETag"]


def _never(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    raise AssertionError("fell through")


def _fallback(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("503 SERVICE UNAVAILABLE", [])
    return [b"flask"]
