"""Every worker shows a changed account at the very next UserInfo call (issue 12).

UserInfo's accounts are cached in each provider process (idp/oidc/user_directory.py)
and checked against a user-data version read with every access token. This runs the
real server (two gunicorn workers, its own module so its own server) and changes an
email from another process, the `idp` command line: once both workers have cached
the old address, every worker must answer the new one with no wait at all.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import requests

from tests.live import LiveAccount, LiveClient, LiveProvider

from .test_cache_invalidation import _answers_since, _log_lines, _until_both_workers
from .webclient import PatientBrowser, query


def _user_token(live: LiveProvider, client: LiveClient, account: LiveAccount) -> str:
    """An access token from a code-flow sign-in through the real pages."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    redirect_uri = client.redirect_uris[0]
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"),
        "code_challenge_method": "S256",
    }
    with PatientBrowser() as browser:
        journey = browser.authorize(
            live.endpoint("/authorize") + "?" + urlencode(params),
            stop_at=redirect_uri,
            username=account.username,
            password=account.password,
        )
    with requests.post(
        live.endpoint("/token"),
        data={
            "grant_type": "authorization_code",
            "code": query(journey.final_url)["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client.client_id, client.client_secret or ""),
        timeout=30,
    ) as response:
        response.raise_for_status()
        return str(response.json()["access_token"])


def _userinfo(live: LiveProvider, token: str) -> dict[str, Any]:
    with requests.get(
        live.endpoint("/userinfo"),
        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        timeout=10,
    ) as response:
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def test_changed_email_shows_at_once_in_every_worker(live: LiveProvider) -> None:
    client = live.add_client(redirect_uris=["http://127.0.0.1:9/cb"])
    account = live.add_account()
    token = _user_token(live, client, account)
    # Both workers serve (and so cache: a copy is kept a second after a version is
    # first seen) the old address.
    start = _log_lines(live)
    keep_from = time.monotonic() + 1.5
    while time.monotonic() < keep_from or len(_answers_since(live, start, "/userinfo")) < 2:
        assert _userinfo(live, token)["email"] == account.email

    new = f"moved.{secrets.token_hex(4)}@example.org"
    changed = live.cli(
        "users", "change-email", account.username, "--email", new,
        "--staff", "Pat at the front desk", "--reason", "identity checked by phone",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr

    # No wait: the command has returned, so every worker must show the new address.
    after = _log_lines(live)
    emails: list[str] = []
    _until_both_workers(
        live, after, "/userinfo", lambda: emails.append(_userinfo(live, token)["email"])
    )
    assert set(emails) == {new}, emails
