"""Path ids beyond what an INTEGER primary key holds are a 404 on every backend, not a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize("row_id", ["2147483648", "524822375185977", "9" * 40])
def test_an_id_no_integer_column_can_hold_is_not_found(client: FlaskClient, row_id: str) -> None:
    # The development outbox (IDP_ENV=test) looks messages up by primary key.
    assert client.get(f"/dev/outbox/{row_id}").status_code == 404
    assert client.get(f"/dev/outbox/{row_id}/html").status_code == 404


def test_the_largest_integer_id_is_still_looked_up(client: FlaskClient) -> None:
    assert client.get("/dev/outbox/2147483647").status_code == 404
