"""portal-classic is allowed, but start-up says it does not meet NIST."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from idp.app import create_app
from idp.settings import load_settings


@pytest.mark.parametrize(("policy", "warned"), [("portal-classic", True), ("nist-800-63b", False)])
def test_start_up_warns_for_non_nist_preset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, policy: str, warned: bool
) -> None:
    settings = load_settings(
        {},
        environment="test",
        secret_key="s" * 40,
        password_policy=policy,
        database_url=f"sqlite:///{tmp_path}/x.db",
        keys_dir=tmp_path / "k",
    )
    with caplog.at_level(logging.WARNING, logger="idp"):
        app = create_app(settings)
    app.extensions["idp"].close()
    assert any("does not meet NIST" in r.getMessage() for r in caplog.records) is warned
