"""/livez and /readyz in-process (the Redis outage test is in tests/e2e/test_ops_live.py)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from idp.app import create_app, key_publish_window
from idp.oidc.keys import KeyRing
from idp.services import Services


def test_livez_answers_from_the_process_alone(client: FlaskClient) -> None:
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_with_every_dependency_up(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "ephemeral_store": "ok", "signing_keys": "ok"},
    }


def test_readyz_names_missing_signing_keys(services: Services, tmp_path: Path) -> None:
    empty = tmp_path / "no-keys"
    empty.mkdir()
    services.keys = KeyRing(empty, publish_for=key_publish_window(services.settings))
    app: Flask = create_app(services=services)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["signing_keys"]
    assert body["checks"]["signing_keys"] == "KeyStoreError"
    assert response.headers["Retry-After"]
    # Liveness does not depend on it.
    assert app.test_client().get("/livez").status_code == 200
