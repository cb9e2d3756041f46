"""/metrics: counters move with real sign-ins and token requests; bounded labels; access.

In-process (Flask test client, the configured backends). The multi-worker and
live-server side is in tests/e2e/test_ops_live.py.
"""

from __future__ import annotations

import sqlite3

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import exc as sa_exc

from idp.store.sql.database import DatabaseUnavailable
from idp.web.metrics import failed_dependency
from tests.helpers import OIDCActions, csrf_token

from .scrape import series, value

OUTSIDER = {"REMOTE_ADDR": "203.0.113.7"}


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    return response.text


def test_sign_in_and_token_exchange_move_their_counters(
    client: FlaskClient, oidc: OIDCActions, factory
) -> None:
    factory.account()
    rp = factory.client()
    before = scrape(client)
    oidc.tokens(rp)
    after = scrape(client)

    signed_in = dict(event="login", outcome="success", reason="signed_in")
    assert value(after, "idp_signins_total", **signed_in) == (
        value(before, "idp_signins_total", **signed_in) + 1
    )
    grants = dict(grant_type="authorization_code", client_id=rp.client_id)
    assert value(after, "idp_token_grants_total", **grants) == (
        value(before, "idp_token_grants_total", **grants) + 1
    )
    # The token request was timed under its route rule.
    timed = dict(route="/token", method="POST")
    assert value(after, "idp_http_request_duration_seconds_count", **timed) == (
        value(before, "idp_http_request_duration_seconds_count", **timed) + 1
    )
    assert value(after, "idp_http_requests_total", status="200", **timed) >= 1


@pytest.mark.settings(lockout__max_failures=2)
def test_wrong_passwords_and_the_lockout_are_counted(
    client: FlaskClient, oidc: OIDCActions, factory
) -> None:
    factory.account()
    before = scrape(client)
    for _ in range(2):
        response = oidc.login("/login", password="wrong password entirely")
        assert response.status_code >= 400
    after = scrape(client)
    failed = dict(event="login", outcome="failure", reason="invalid_credentials")
    locked = dict(event="login", outcome="failure", reason="locked")
    assert (
        value(after, "idp_signins_total", **failed)
        == value(before, "idp_signins_total", **failed) + 1
    )
    assert (
        value(after, "idp_signins_total", **locked)
        == value(before, "idp_signins_total", **locked) + 1
    )
    assert value(after, "idp_lockouts_total", reason="temporarily_locked") == (
        value(before, "idp_lockouts_total", reason="temporarily_locked") + 1
    )


def test_a_refused_token_request_counts_no_grant(
    client: FlaskClient, oidc: OIDCActions, factory
) -> None:
    factory.account()
    rp = factory.client()
    req = oidc.request(rp)
    code = oidc.code_for(req)
    before = scrape(client)
    # A wrong verifier: refused, nothing issued, nothing counted.
    req.verifier = "x" * 64
    assert oidc.exchange(rp, req, code).status_code == 400
    after = scrape(client)
    assert series(after, "idp_token_grants_total") == series(before, "idp_token_grants_total")


def test_labels_are_route_rules_never_raw_paths(client: FlaskClient) -> None:
    for path in ("/no/such/page-1", "/no/such/page-2", "/wp-admin/setup.php?x=1"):
        assert client.get(path).status_code == 404
    client.get("/admin/users/12345")
    client.open("/login", method="BREW")
    text = scrape(client)
    routes = {labels["route"] for labels in series(text, "idp_http_requests_total")}
    assert "unmatched" in routes
    assert not any("such" in r or "wp-admin" in r or "12345" in r for r in routes)
    methods = {labels["method"] for labels in series(text, "idp_http_requests_total")}
    assert "BREW" not in methods and "other" in methods


def test_outbox_backlog_is_read_at_scrape(client: FlaskClient) -> None:
    text = scrape(client)
    assert value(text, "idp_outbox_backlog_up") == 1
    assert {s["status"] for s in series(text, "idp_outbox_backlog")} == {
        "pending",
        "sending",
        "failed",
    }


def test_metrics_are_refused_outside_the_allowed_networks(client: FlaskClient) -> None:
    response = client.get("/metrics", environ_base=OUTSIDER)
    assert response.status_code == 403
    assert "idp_" not in response.text
    # A forged X-Forwarded-For changes nothing while no proxy is trusted.
    forged = client.get("/metrics", environ_base=OUTSIDER, headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 403


@pytest.mark.settings(metrics_allowed_networks=("203.0.113.0/24",))
def test_a_monitoring_network_can_be_allowed(client: FlaskClient) -> None:
    assert client.get("/metrics", environ_base=OUTSIDER).status_code == 200
    # ... and then loopback is no longer allowed unless listed.
    assert client.get("/metrics").status_code == 403


@pytest.mark.settings(metrics_allowed_networks=())
def test_an_empty_allow_list_serves_nobody(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 403


def test_metrics_answer_only_get(client: FlaskClient) -> None:
    page = client.get("/login")
    response = client.post("/metrics", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 405


def _raised_from(cause: BaseException) -> BaseException:
    """An application error raised while handling ``cause``, as a store adapter would."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("service unavailable") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("cause", "dependency"),
    [
        (sa_exc.OperationalError("SELECT 1", {}, Exception("server closed")), "database"),
        (sa_exc.InterfaceError("SELECT 1", {}, Exception("connection closed")), "database"),
        (DatabaseUnavailable("cannot reach the database"), "database"),
        (redis.ConnectionError("Connection refused"), "ephemeral"),
        (redis.TimeoutError("Timeout reading"), "ephemeral"),
        (sqlite3.OperationalError("disk I/O error"), "ephemeral"),
        (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")), None),
        (ValueError("bad input"), None),
    ],
)
def test_dependency_errors_are_told_from_other_failures(
    cause: BaseException, dependency: str | None
) -> None:
    assert failed_dependency(cause) == dependency
    assert failed_dependency(_raised_from(cause)) == dependency
