"""Every worker sees a removed client and a rotated key within one second, and a
changed account at once (issue 12).

Clients and signing keys are cached in each provider process. These tests run the
real server (two gunicorn workers) and change things from another process, the
`idp` command line, as an operator would: after one second every worker must
refuse the removed client and publish the new key. Both workers must have served
(and so cached) the old state first, and both must answer afterwards; the access
log says which worker answered what.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import requests

from tests.live import _ACCESS_RE, LiveAccount, LiveClient, LiveProvider, _access_message

from .webclient import PatientBrowser, query

# The promise is one second; the margin covers the command's own return.
WITHIN = 1.0


def _token(live: LiveProvider, client_id: str, secret: str) -> int:
    # A new connection each time, so that both workers get requests.
    with requests.post(
        live.endpoint("/token"),
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers={"Connection": "close"},
        timeout=10,
    ) as response:
        return response.status_code


def _answers_since(live: LiveProvider, offset: int, path: str) -> dict[int, set[int]]:
    """Worker pid -> statuses it answered on ``path``, in log lines after ``offset``."""
    seen: dict[int, set[int]] = {}
    lines = live.access_log_path.read_text(errors="replace").splitlines()[offset:]
    for line in lines:
        match = _ACCESS_RE.match(_access_message(line))
        if match and match.group(3) == path:
            seen.setdefault(int(match.group(1)), set()).add(int(match.group(4)))
    return seen


def _log_lines(live: LiveProvider) -> int:
    return len(live.access_log_path.read_text(errors="replace").splitlines())


def _until_both_workers(live: LiveProvider, offset: int, path: str, send: object) -> None:
    for _ in range(200):
        send()  # type: ignore[operator]
        if len(_answers_since(live, offset, path)) >= live.workers:
            return
    raise AssertionError(f"only one worker answered {path}")


def test_removed_client_is_refused_by_every_worker_within_a_second(live: LiveProvider) -> None:
    client = live.add_client(redirect_uris=["http://127.0.0.1:9/cb"])
    secret = client.client_secret or ""
    start = _log_lines(live)
    _until_both_workers(
        live, start, "/token", lambda: _token(live, client.client_id, secret) == 200
    )
    assert all(s == {200} for s in _answers_since(live, start, "/token").values())

    removed = live.cli("clients", "remove", client.client_id)
    assert removed.returncode == 0, removed.stderr
    time.sleep(WITHIN)

    after = _log_lines(live)
    statuses = []
    _until_both_workers(
        live, after, "/token", lambda: statuses.append(_token(live, client.client_id, secret))
    )
    assert set(statuses) == {401}, statuses
    assert all(s == {401} for s in _answers_since(live, after, "/token").values())


def test_rotated_key_is_published_by_every_worker_within_a_second(live: LiveProvider) -> None:
    def kids() -> frozenset[str]:
        with requests.get(
            live.endpoint("/jwks.json"), headers={"Connection": "close"}, timeout=10
        ) as response:
            return frozenset(k["kid"] for k in response.json()["keys"])

    before = kids()
    start = _log_lines(live)
    _until_both_workers(live, start, "/jwks.json", kids)

    rotated = live.cli("keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    time.sleep(WITHIN)

    after = _log_lines(live)
    seen = []
    _until_both_workers(live, after, "/jwks.json", lambda: seen.append(kids()))
    assert all(k > before for k in seen), (before, seen)
    assert len(set(seen)) == 1


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
