"""Every worker sees a removed client and a rotated key within one second (issue 12).

Clients and signing keys are cached in each provider process. These tests run the
real server (two gunicorn workers) and change things from another process, the
`idp` command line, as an operator would: after one second every worker must
refuse the removed client and publish the new key. Both workers must have served
(and so cached) the old state first, and both must answer afterwards; the access
log says which worker answered what.
"""

from __future__ import annotations

import time

import requests

from tests.live import _ACCESS_RE, LiveProvider, _access_message

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
