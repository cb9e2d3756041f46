"""A pooled Redis connection lost between checkout and reply: the command is sent once more.

The hot commands of every token, introspection and UserInfo request (SET, GET,
EVALSHA) go through ``RedisEphemeralStore._command`` on a connection of the client's
pool, not through redis-py's ``execute_command`` (issue 12). What that must keep is
redis-py's retry rule as ``from_url`` configures it: a dropped connection is closed
and the command sent once more at once. The pool's checkout check already replaces a
connection that died while idle, so the only way into the resend is a connection
dropped while the command is on the wire; a relay in front of this test's own Redis
cuts exactly that exchange, before the server sees the command or after it ran with
its reply lost. SET and GET are idempotent, so either way the caller gets the answer
it would have had; a second loss in a row is an outage (503), not a silent retry loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idp.errors import UnavailableError
from idp.store.redis.ephemeral import RedisEphemeralStore

from ..servers import CuttingRelay, OwnRedis
from .conftest import REDIS_TIMEOUT


@pytest.fixture
def relayed(redis_server: OwnRedis) -> Iterator[tuple[RedisEphemeralStore, CuttingRelay]]:
    relay = CuttingRelay(redis_server.port)
    store = RedisEphemeralStore.from_url(f"redis://127.0.0.1:{relay.port}/0", timeout=REDIS_TIMEOUT)
    try:
        store.put("warm", "the pool holds a live connection now", ttl=60)
        yield store, relay
    finally:
        store.close()
        relay.close()


@pytest.mark.parametrize("lose", ["request", "reply"])
def test_a_set_whose_connection_is_cut_is_sent_once_more(
    relayed: tuple[RedisEphemeralStore, CuttingRelay], lose: str
) -> None:
    store, relay = relayed
    relay.arm(b"value-cut-in-flight", lose)

    store.put("token", "value-cut-in-flight", ttl=60)

    assert relay.cuts == 1
    assert store.get("token") == "value-cut-in-flight"


@pytest.mark.parametrize("lose", ["request", "reply"])
def test_a_get_whose_connection_is_cut_is_sent_once_more(
    relayed: tuple[RedisEphemeralStore, CuttingRelay], lose: str
) -> None:
    store, relay = relayed
    store.put("key-read-in-flight", "stored", ttl=60)
    relay.arm(b"key-read-in-flight", lose)

    assert store.get("key-read-in-flight") == "stored"
    assert relay.cuts == 1


def test_two_cuts_in_a_row_are_an_outage_not_a_loop(
    relayed: tuple[RedisEphemeralStore, CuttingRelay],
) -> None:
    """The resend happens once: a second dropped connection surfaces as unavailable."""
    store, relay = relayed
    relay.arm(b"cut-twice", "request", times=2)

    with pytest.raises(UnavailableError):
        store.put("never", "cut-twice", ttl=60)
    assert relay.cuts == 2
