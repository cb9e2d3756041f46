"""Enrol second factors straight through the credentials store, and type their codes.

Enrolment pages are another change's work; sign-in tests only need an account that
has a factor, so they put one in place the way the enrolment flow stores it.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import pyotp
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.flows.methods.base import AccountFacts, Verified
from idp.flows.methods.recovery_codes import RecoveryCodeMethod
from idp.services import Services
from idp.store.secret_box import SecretBox
from idp.store.sql import models

from .helpers import csrf_token
from .mfa.soft_authenticator import SoftAuthenticator


def enrol_totp(services: Services, account_id: int) -> str:
    """Give the account an authenticator app; returns its base32 secret."""
    secret = pyotp.random_base32()
    box = SecretBox.from_secret_key(services.settings.secret_key)
    sealed = box.seal(secret.encode("ascii"), context=b"totp:%d" % account_id)
    with services.db.transaction() as uow:
        uow.credentials.add_totp(
            account_id, secret_ciphertext=sealed, label="Phone", step=0, now=services.clock()
        )
    return secret


def enrol_passkey(
    services: Services, account_id: int, *, user_verified: bool = True
) -> SoftAuthenticator:
    """Register a software authenticator's discoverable passkey for the account."""
    issuer = services.settings.issuer
    device = SoftAuthenticator(
        origin=issuer, rp_id=urlsplit(issuer).hostname or "", user_verified=user_verified
    )
    method = services.second_factors.webauthn
    with services.db.transaction() as uow:
        facts = AccountFacts(account_id, uow.credentials.kinds(account_id))
        options = method.registration_options(
            facts,
            user_name=f"account-{account_id}",
            display_name="Patient",
            flow_id=f"enrol-{account_id}",
            tx=uow,
            now=services.clock(),
        )
    with services.db.transaction() as uow:
        registered = method.register(
            facts,
            device.create(options),
            label="Phone",
            flow_id=f"enrol-{account_id}",
            tx=uow,
            now=services.clock(),
        )
    assert isinstance(registered, Verified), registered
    return device


def enrol_recovery_codes(services: Services, account_id: int) -> tuple[str, ...]:
    with services.db.transaction() as uow:
        return RecoveryCodeMethod().issue(account_id, tx=uow, now=services.clock())


def totp_now(services: Services, secret: str, *, offset_steps: int = 0) -> str:
    at: datetime = services.clock()
    return pyotp.TOTP(secret).at(at.timestamp() + 30 * offset_steps)


def submit_code(
    client: FlaskClient, code: str, *, method: str = "totp", path: str = "/login/second-factor"
) -> TestResponse:
    page = client.get(path, query_string={"method": method} if method != "totp" else {})
    assert page.status_code == 200, page.text
    return client.post(
        path, data={"code": code, "method": method, "csrf_token": csrf_token(page.text)}
    )


def outbox_templates(services: Services) -> list[str]:
    with services.db.session() as session:
        return list(session.scalars(select(models.OutboxMessage.template)))
