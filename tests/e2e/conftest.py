"""Fixtures for end-to-end tests against a real provider process (see tests/live.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live import LiveProvider, live_provider


@pytest.fixture(scope="module")
def live() -> Iterator[LiveProvider]:
    """One gunicorn-served provider per test module, on the configured backends.

    Module scope: starting the server costs about a second, and modules seed their
    own clients and accounts (random names), so they never see each other's data.
    """
    with live_provider() as provider:
        yield provider
