"""X-Forwarded-* is believed only from as many proxies as IDP_TRUSTED_PROXIES says.

Served directly behind an https issuer, the provider used to trust one hop
unconditionally: any client could pick its own audit IP and per-address throttle
key with one header. By default nothing is trusted, whatever the issuer scheme.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from idp.services import Services

from ..conftest import Factory
from ..helpers import csrf_token

ISSUER = "https://idp.example.org"
REAL_ADDRESS = "198.51.100.7"


def _failed_sign_in(client: FlaskClient, forged: str, username: str = "alice") -> int:
    """One wrong password over https from REAL_ADDRESS, claiming to come from ``forged``."""
    env = {"REMOTE_ADDR": REAL_ADDRESS}
    headers = {"X-Forwarded-For": forged, "X-Forwarded-Proto": "https"}
    page = client.get("/login", base_url=ISSUER, environ_base=env, headers=headers)
    response = client.post(
        "/login",
        base_url=ISSUER,
        data={"username": username, "password": "wrong guess", "csrf_token": csrf_token(page.text)},
        environ_base=env,
        # Flask-WTF checks the Referer of https form posts.
        headers={**headers, "Referer": f"{ISSUER}/login"},
    )
    return response.status_code


def _audit_ips(services: Services) -> set[str | None]:
    with services.db.transaction() as uow:
        return {event.ip for event in uow.audit.tail(100)}


@pytest.mark.settings(issuer=ISSUER, accounts__ip_failure_limit=5)
def test_forged_forwarded_for_changes_neither_audit_ip_nor_throttle_key_by_default(
    client: FlaskClient, factory: Factory, services: Services
) -> None:
    factory.account(username="alice")
    # One user ID per attempt, so that no account lock interferes: only the address
    # throttle can refuse. Five failures from the one real address, then it is slowed
    # down; a fresh forged address per request would have made each one a newcomer.
    statuses = [_failed_sign_in(client, f"203.0.113.{i}", f"user{i}") for i in range(7)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    assert _audit_ips(services) == {REAL_ADDRESS}


@pytest.mark.settings(issuer=ISSUER, trusted_proxies=1)
def test_one_trusted_proxy_hop_is_believed_and_only_one(
    client: FlaskClient, factory: Factory, services: Services
) -> None:
    factory.account(username="alice")
    # The client forged the left entry; our one proxy appended the address it saw.
    assert _failed_sign_in(client, "203.0.113.99, 192.0.2.44") == 401
    assert _audit_ips(services) == {"192.0.2.44"}
