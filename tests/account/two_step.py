"""Helpers for the two-step verification pages: read what a page shows, post what a
patient would (the CSRF token and the flow id come from the page itself)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from idp.services import Services
from idp.store.sql import models

from ..conftest import PASSWORD
from ..helpers import csrf_token
from .conftest import Browser

SECRET_RE = re.compile(r'data-totp-secret="([A-Z2-7]+)"')
FLOW_RE = re.compile(r'name="flow" value="([^"]+)"')
OPTIONS_RE = re.compile(
    r'<script type="application/json" id="passkey-options">(.*?)</script>', re.S
)
CODE_RE = re.compile(r"<code data-recovery-code>([0-9A-Z-]+)</code>")


@dataclass
class AppPage:
    secret: str
    flow: str
    csrf: str
    html: str


@dataclass
class PasskeyPage:
    options: str
    flow: str
    csrf: str


def open_app_page(browser: Browser) -> AppPage:
    page = browser.get("/account/two-step/app")
    assert page.status_code == 200, page.text[:300]
    secret = SECRET_RE.search(page.text)
    flow = FLOW_RE.search(page.text)
    assert secret and flow
    return AppPage(secret.group(1), html.unescape(flow.group(1)), csrf_token(page.text), page.text)


def code_now(services: Services, secret: str, *, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(services.clock(), counter_offset=offset_steps)


def confirm_app(browser: Browser, page: AppPage, **fields: str | None) -> TestResponse:
    data: dict[str, Any] = {
        "csrf_token": page.csrf,
        "flow": page.flow,
        "current_password": PASSWORD,
    }
    data.update(fields)
    return browser.client.post(
        "/account/two-step/app", data={k: v for k, v in data.items() if v is not None}
    )


def enrol_app(browser: Browser, services: Services) -> tuple[AppPage, TestResponse]:
    page = open_app_page(browser)
    done = confirm_app(browser, page, code=code_now(services, page.secret))
    assert done.status_code in (200, 303), done.text[:500]
    return page, done


def open_passkey_page(browser: Browser) -> PasskeyPage:
    page = browser.get("/account/two-step/passkey")
    assert page.status_code == 200, page.text[:300]
    options = OPTIONS_RE.search(page.text)
    flow = FLOW_RE.search(page.text)
    assert options and flow
    # The JSON as the browser's JSON.parse reads it (tojson escapes <, >, & and ').
    parsed = json.loads(options.group(1))
    return PasskeyPage(json.dumps(parsed), html.unescape(flow.group(1)), csrf_token(page.text))


def post_passkey(browser: Browser, page: PasskeyPage, **fields: str | None) -> TestResponse:
    data: dict[str, Any] = {
        "csrf_token": page.csrf,
        "flow": page.flow,
        "current_password": PASSWORD,
        "label": "My phone",
    }
    data.update(fields)
    return browser.client.post(
        "/account/two-step/passkey", data={k: v for k, v in data.items() if v is not None}
    )


def recovery_codes(response: TestResponse) -> list[str]:
    return CODE_RE.findall(response.text)


def credential_rows(services: Services) -> dict[str, int]:
    """Rows of the credentials table by kind: equal before and after means nothing kept."""
    with services.db.session() as session:
        rows = session.execute(
            select(models.Credential.kind, func.count()).group_by(models.Credential.kind)
        ).all()
    return {kind: int(n) for kind, n in rows}


def factor_ids(services: Services, account_id: int) -> list[int]:
    with services.db.transaction() as uow:
        return [f.id for f in uow.credentials.listing(account_id)]
