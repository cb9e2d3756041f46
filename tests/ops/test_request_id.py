"""X-Request-ID on every response, on every log line of the request, and on the 500 page."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from idp.logging_setup import JsonFormatter


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("idp")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """The provider plus one route that logs twice and then fails unexpectedly."""

    @app.get("/__test/fail")
    def fail() -> str:
        logging.getLogger("idp.test").info("starting the work")
        logging.getLogger("idp.test").warning("about to fail")
        raise RuntimeError("boom")

    return app


def test_every_response_carries_a_fresh_request_id(app: Flask) -> None:
    client = app.test_client()
    ids = {client.get(path).headers["X-Request-ID"] for path in ("/login", "/livez", "/nope")}
    assert len(ids) == 3
    assert all(len(i) >= 16 for i in ids)


@pytest.mark.parametrize(
    "incoming",
    ["lb-7f3a9c2e1d", "0f8e2a6c-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "A.b_c-0123456789"],
)
def test_a_short_safe_incoming_id_is_kept(app: Flask, incoming: str) -> None:
    response = app.test_client().get("/livez", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "hostile",
    [
        "short",  # too short to be an id
        "x" * 65,  # too long
        "abc def 12345",  # spaces
        'abc"}{"level":"error',  # breaks out of a JSON log line
        "abc12345\\n",
        "<script>alert(1)</script>",
        "-starts-with-dash",
        "ünïcode-1234567",
    ],
)
def test_an_unsafe_incoming_id_is_replaced(app: Flask, hostile: str) -> None:
    response = app.test_client().get("/livez", headers={"X-Request-ID": hostile})
    assert response.status_code == 200
    rid = response.headers["X-Request-ID"]
    assert rid != hostile and rid.isalnum()


def test_a_refusal_before_the_app_still_has_an_id(app: Flask) -> None:
    response = app.test_client().get("/login", headers={"Host": "bad..host"})
    assert response.status_code == 400
    assert response.headers["X-Request-ID"]


def test_every_log_line_of_a_failing_request_and_its_500_page_carry_its_id(
    failing_app: Flask, log_lines: Lines
) -> None:
    response = failing_app.test_client().get(
        "/__test/fail", headers={"X-Request-ID": "req-0123456789ab"}
    )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-0123456789ab"
    assert "<code>req-0123456789ab</code>" in response.text
    docs = [json.loads(line) for line in log_lines.lines]
    assert len(docs) >= 3  # two lines from the view, the unhandled error with its traceback
    assert {d["request_id"] for d in docs} == {"req-0123456789ab"}
    assert any("RuntimeError: boom" in d.get("exception", "") for d in docs)
    assert all(d["time"] and d["level"] and d["logger"] for d in docs)


def test_lines_outside_a_request_have_no_id(log_lines: Lines) -> None:
    logging.getLogger("idp.test").info("background work")
    assert json.loads(log_lines.lines[-1])["request_id"] is None
