"""A parent acts for a child at a practice's portal, in headless Chromium (issue 10).

The provider runs under gunicorn (tests/live.py) with a clock the test moves through
``IDP_TEST_CLOCK_FILE`` (honoured only with ``IDP_ENV=test``). The practice's own system
enrols the child and staff grant the parent access through the real admin API; the
portal is a separate HTTP server on its own host (tests/browser/portal.py).

1. The parent signs in at the portal, sees the "whose record" picker (her own record and
   her child's), picks the child: the portal receives the child's MRN and limited scopes
   (the practice flagged the child's results confidential, so no ``Observation``).
2. The clock moves past the child's 13th birthday: the portal's next token (a refresh) is
   teen-limited, and a new sign-in shows the child at the limited-teen level.
3. The clock moves past the 18th: signing in again offers no proxy choice at all; the
   portal gets the parent's own record.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page

from idp.flows.methods.password import PasswordHashing
from idp.policies.proxy import nth_birthday
from idp.store.sql.repositories import NewPerson
from tests.live import LiveClient, LiveProvider, live_provider

from .conftest import chromium
from .portal import PortalServer, create_portal, reserve_server, serve

pytestmark = [pytest.mark.browser, pytest.mark.live]

TIMEOUT_MS = 15_000
DAY = 86400
RESTRICTED = (
    "patient/Observation.rs",
    "patient/MedicationRequest.rs",
    "patient/DocumentReference.rs",
)
TEEN_OK = ("patient/Immunization.rs", "patient/AllergyIntolerance.rs")
SCOPE = " ".join(("openid", "profile", "launch/patient", "offline_access", *RESTRICTED, *TEEN_OK))
PASSWORD = "a long pass phrase for grace 1906"


@dataclass
class Setting:
    live: LiveProvider
    clock_file: Path
    portal: PortalServer
    client: LiveClient
    username: str
    child_dob: date

    def move_clock(self, seconds: float) -> None:
        self.clock_file.write_text(str(seconds), encoding="ascii")

    def offset(self) -> float:
        raw = (
            self.clock_file.read_text(encoding="ascii").strip() if self.clock_file.exists() else ""
        )
        return float(raw) if raw else 0.0


def _api(live: LiveProvider, token: str, method: str, path: str, body: dict[str, Any]) -> Any:
    response = requests.request(
        method,
        live.endpoint(path),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    clock_file = tmp_path_factory.mktemp("clock") / "offset"
    clock_file.write_text("0", encoding="ascii")
    with live_provider(extra_env={"IDP_TEST_CLOCK_FILE": str(clock_file)}) as live:
        slug = f"northside-{secrets.token_hex(3)}"
        portal_id = live.add_portal("Northside Pediatrics", slug=slug)
        # The practice's staff tools: client credentials with idp:admin.
        admin = live.add_client(
            name="Northside staff tools",
            redirect_uris=["https://staff.northside.example/unused"],
            scope="openid idp:admin",
            grant_types=["client_credentials"],
        )
        issued = requests.post(
            live.endpoint("/token"),
            data={"grant_type": "client_credentials", "scope": "idp:admin"},
            auth=(admin.client_id, admin.client_secret or ""),
            timeout=10,
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]

        # Grace, 40, with her own record at the practice.
        username = f"grace-{secrets.token_hex(3)}"
        live.track_username(username)
        now = datetime.now(UTC)
        with live.db.transaction() as uow:
            grace = uow.accounts.add(
                username=username,
                password_hash=PasswordHashing(live.password_hashing).hash(PASSWORD),
                email=f"{username}@example.test",
                email_verified=True,
                now=now,
                person=NewPerson(
                    first_name="Grace", last_name="Hopper", dob=date(1986, 1, 1), zip="02139"
                ),
            )
            uow.portal_links.link(grace.id, portal_id, "MRN-GRACE", now)
        live.subjects.add(grace.subject)

        # Tim turns 13 in two days. Enrolled by the practice, his results flagged
        # confidential, Grace granted as his parent by staff on the signed form.
        soon = now.date() + timedelta(days=2)
        child_dob = nth_birthday(soon, -13)
        prefix = f"/api/admin/portals/{slug}"
        _api(
            live,
            token,
            "POST",
            f"{prefix}/patients",
            {
                "patient_id": "MRN-TIM",
                "first_name": "Tim",
                "last_name": "Hopper",
                "dob": child_dob.isoformat(),
                "zip": "02139",
            },
        )
        _api(
            live,
            token,
            "PUT",
            f"{prefix}/patients/MRN-TIM/confidential",
            {"categories": ["results"], "reason": "minor_consented_care"},
        )
        grant = _api(
            live,
            token,
            "POST",
            f"{prefix}/proxy-grants",
            {
                "patient_id": "MRN-TIM",
                "representative": username,
                "relationship": "parent",
                "evidence": "form PCR-2026-077",
                "staff": "Nurse Joy",
            },
        )
        assert grant["status"] == "active" and grant["level"] == "full"

        server = reserve_server("127.0.0.4")
        base = f"http://127.0.0.4:{server.port}"
        client = live.add_client(
            name="Northside portal",
            redirect_uris=[f"{base}/callback"],
            post_logout_redirect_uris=[f"{base}/signed-out"],
            scope=SCOPE,
            grant_types=["authorization_code", "refresh_token"],
            first_party=True,
            portal_id=portal_id,
        )
        holder: dict[str, Setting] = {}
        app = create_portal(
            "Northside",
            base_url=base,
            issuer=live.issuer,
            client=client,
            scope=SCOPE,
            clock_offset=lambda: holder["s"].offset(),
        )
        portal = serve("Northside", server, app)
        try:
            holder["s"] = Setting(live, clock_file, portal, client, username, child_dob)
            yield holder["s"]
        finally:
            portal.stop()


def _sign_in(page: Page, s: Setting) -> None:
    page.goto(s.portal.url + "/login")
    page.locator("input[name=password]").wait_for()
    page.fill("input[name=username]", s.username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").click()


def _scope(page: Page) -> set[str]:
    return set(page.locator("#scope").inner_text().split())


def _refresh(s: Setting) -> requests.Response:
    tokens: list[dict[str, Any]] = s.portal.server.app.config["TOKENS"]  # type: ignore[attr-defined]
    return requests.post(
        s.live.endpoint("/token"),
        data={"grant_type": "refresh_token", "refresh_token": tokens[-1]["refresh_token"]},
        auth=(s.client.client_id, s.client.client_secret or ""),
        timeout=10,
    )


def test_parent_picks_child_then_teen_limit_then_no_choice(setting: Setting) -> None:
    s = setting
    with chromium() as browser:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            # 1. Sign in at the portal; the provider asks whose record.
            _sign_in(page, s)
            choices = page.locator("button[type=submit][name=patient]")
            choices.first.wait_for()
            assert sorted(choices.evaluate_all("bs => bs.map(b => b.value)")) == [
                "MRN-GRACE",
                "MRN-TIM",
            ]
            tim = page.locator("button[name=patient][value=MRN-TIM]")
            assert tim.get_attribute("data-level") == "full"
            tim.click()
            page.wait_for_url(s.portal.url + "/")
            assert page.locator("#patient").inner_text() == "MRN-TIM"
            granted = _scope(page)
            # The child's results are confidential: no Observation, whatever the level.
            assert "patient/Observation.rs" not in granted
            assert {"patient/MedicationRequest.rs", "patient/DocumentReference.rs"} <= granted
            assert set(TEEN_OK) <= granted

            # 2. Three days on, Tim is 13: the portal's next token is teen-limited.
            s.move_clock(3 * DAY)
            refreshed = _refresh(s)
            assert refreshed.status_code == 200, refreshed.text
            body = refreshed.json()
            assert body["patient"] == "MRN-TIM"
            teen = set(body["scope"].split())
            assert teen.isdisjoint(RESTRICTED) and set(TEEN_OK) <= teen
            # The session timed out meanwhile; signing in again shows the new level.
            _sign_in(page, s)
            tim = page.locator("button[name=patient][value=MRN-TIM]")
            tim.wait_for()
            assert tim.get_attribute("data-level") == "teen_limited"
            tim.click()
            page.wait_for_url(s.portal.url + "/")
            assert page.locator("#patient").inner_text() == "MRN-TIM"
            assert _scope(page).isdisjoint(RESTRICTED)

            # 3. Past Tim's 18th birthday no proxy choice remains: no picker at all, and
            # the portal gets Grace's own record.
            eighteenth = nth_birthday(s.child_dob, 18)
            days = (eighteenth - datetime.now(UTC).date()).days + 1
            s.move_clock(days * DAY)
            _sign_in(page, s)
            page.wait_for_url(s.portal.url + "/")
            assert page.locator("#patient").inner_text() == "MRN-GRACE"
            assert page.locator("button[name=patient]").count() == 0
        finally:
            context.close()
