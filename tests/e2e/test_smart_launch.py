"""A real SMART client library completes a standalone patient launch against the live provider.

The app is ``tests/e2e/smart_app/app.js``: the ``fhirclient`` package from the npm
registry (SMART Health IT's client, version pinned in its package.json and
package-lock.json), run by node. It discovers our endpoints from
``/.well-known/smart-configuration``, sends the patient's browser to the
authorization endpoint with PKCE S256, exchanges the code as a public client, and
reports the launch context it received. The browser is tests/e2e/webclient.py.

Needs node and ``npm ci --prefix tests/e2e/smart_app`` (``make smart-app``); skipped
without them unless IDP_REQUIRE_NODE=1 (CI), where it fails and says what to run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveProvider

from .webclient import PatientBrowser

pytestmark = pytest.mark.live

APP_DIR = Path(__file__).parent / "smart_app"
INSTALLED = APP_DIR / "node_modules" / "fhirclient" / "package.json"
MISSING = (
    "node and fhirclient are needed: run `make smart-app` (npm ci --prefix tests/e2e/smart_app)"
)
MRN = "MRN-20260"
SCOPE = "openid profile launch/patient patient/Observation.rs offline_access"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None or not INSTALLED.exists():
        if os.environ.get("IDP_REQUIRE_NODE") == "1":
            pytest.fail(f"IDP_REQUIRE_NODE=1 but {MISSING}", pytrace=False)
        pytest.skip(MISSING)
    return path


@pytest.fixture
def smart_app(node: str, live: LiveProvider) -> Iterator[tuple[str, Any]]:
    """The fhirclient app, registered as a public client of a practice Alice is linked to."""
    port = _free_port()
    portal = live.add_portal("Harbor Pediatrics")
    client = live.add_client(
        name="Growth chart (SMART app)",
        redirect_uris=[f"http://127.0.0.1:{port}/app"],
        scope=SCOPE,
        public=True,
        portal_id=portal,
    )
    account = live.add_account(first_name="Ada", last_name="Lovelace")
    with live.db.transaction() as uow:
        person = uow.accounts.by_username(account.username)
        assert person is not None
        uow.portal_links.link(person.id, portal, MRN, datetime.now(UTC))
    process = subprocess.Popen(
        [node, "app.js", str(port), live.issuer, client.client_id, SCOPE],
        cwd=APP_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening" in line, line + (process.stdout.read() if process.poll() else "")
        yield f"http://127.0.0.1:{port}", account
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_fhirclient_completes_a_standalone_patient_launch(
    smart_app: tuple[str, Any], live: LiveProvider
) -> None:
    app_url, account = smart_app
    with PatientBrowser() as browser:
        journey = browser.authorize(
            f"{app_url}/launch",
            stop_at=f"{app_url}/app",
            username=account.username,
            password=account.password,
        )
        assert journey.logins == 1 and journey.consents == 1
        with browser.http.get(journey.final_url, timeout=30) as response:
            result = response.json()
            assert response.status_code == 200, result
    assert result["patient"] == MRN  # context-standalone-patient
    granted = result["scope"].split()
    assert {"launch/patient", "patient/Observation.rs", "offline_access"} <= set(granted)
    assert result["refresh_token"] is True  # permission-offline
    assert result["id_token_claims"]["iss"] == live.issuer  # sso-openid-connect
    assert result["server_url"] == live.issuer
