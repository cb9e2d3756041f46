"""Many failures from one address slow that address down, without locking the owner out."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from ..conftest import PASSWORD, Factory
from ..helpers import csrf_token, strip_csrf


def _post(client: FlaskClient, username: str, password: str, ip: str):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip})
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page.text)},
        environ_base={"REMOTE_ADDR": ip},
    )


@pytest.mark.settings(accounts__ip_failure_limit=6)
def test_an_address_guessing_across_accounts_is_throttled(
    client: FlaskClient, factory: Factory
) -> None:
    factory.account(username="alice")
    for i in range(6):  # one guess each at six different user IDs: no account locks
        assert _post(client, f"user{i}", "guess", "203.0.113.50").status_code == 401
    known = _post(client, "alice", PASSWORD, "203.0.113.50")
    unknown = _post(client, "nobody", "guess", "203.0.113.50")
    assert known.status_code == unknown.status_code == 429
    assert 'data-message-id="too_many_attempts"' in known.text
    assert strip_csrf(known.text).replace("alice", "X") == strip_csrf(unknown.text).replace(
        "nobody", "X"
    )
    # The owner, from elsewhere, is not affected.
    assert _post(client, "alice", PASSWORD, "198.51.100.20").status_code == 303
