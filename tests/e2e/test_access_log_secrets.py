"""No secret reaches the access log (issue 8, item 9).

A real provider (gunicorn, configured as ``idp serve`` configures it) with a real
SMTP server: a full self sign-up through the emailed link, an invitation activated
from its emailed code, a password reset through its emailed link, an OIDC sign-in
whose code is exchanged, a careless ``/userinfo?access_token=``, and RP-initiated
logout with ``id_token_hint``. Then the server's own access log is searched for every
secret the test handled: links' tokens, codes, passwords, answers, tokens, the
``state`` and ``nonce``. None may be there; the redacted request lines must be.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import redis
import requests
from aiosmtpd.controller import Controller

from idp.flows.registration import SIGNUP_EMAIL_SCOPE, SIGNUP_IP_SCOPE
from idp.store.redis import RedisEphemeralStore
from idp.store.throttle import Throttle
from tests.helpers import pkce_pair
from tests.live import LiveProvider, live_provider
from tests.notify.conftest import Mailbox, SmtpServer, free_port

pytestmark = pytest.mark.live

PASSWORD = "purple elephants dance at midnight"
NEW_PASSWORD = "seven quiet harbours under snow"
ANSWERS = {"first_concert": "Rolling Stones 1989", "childhood_friend": "Margaret Oduya"}
PORTAL = "http://127.0.0.1:9/callback"
SIGNED_OUT = "http://127.0.0.1:9/signed-out"
URL_RE = r"https?://[^\s\"<>]+"


class _Forms(HTMLParser):
    """Every form on a page: its action and the values a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif not self.forms:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("checkbox", "submit"):
            self.forms[-1][1][a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and self._select not in self.forms[-1][1]:
            self.forms[-1][1][self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def submit(
    http: requests.Session,
    page: requests.Response,
    action: str,
    *,
    follow: bool = True,
    **fields: str,
) -> requests.Response:
    """POST the form whose action ends with ``action``, as a browser would."""
    parser = _Forms()
    parser.feed(page.text)
    for form_action, values in parser.forms:
        if form_action.endswith(action):
            target = urljoin(page.url, form_action)
            assert "?" not in target, f"a form posts to a URL with a query: {target}"
            response = http.post(target, data={**values, **fields}, allow_redirects=follow)
            assert response.status_code < 500, response.text[:500]
            return response
    raise AssertionError(f"no form posting to {action} on {page.url}: {page.text[:800]}")


@pytest.fixture(scope="module")
def mail_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    for attempt in range(5):
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            if attempt == 4:
                raise
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def live(mail_server: SmtpServer) -> Iterator[LiveProvider]:
    env = {
        "IDP_SMTP_HOST": mail_server.host,
        "IDP_SMTP_PORT": str(mail_server.port),
        "IDP_SMTP_SECURITY": "none",
        "IDP_RESET_FLOW": "link",
        "IDP_SECURITY_QUESTIONS": "2",
    }
    with live_provider(extra_env=env) as provider:
        yield provider


def wait_for_link(server: SmtpServer, to: str, path: str, *, timeout: float = 20.0) -> str:
    """The link to ``path`` in the newest email to ``to`` (sent after the commit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(list(server.mailbox.messages)):
            if message["To"] == to:
                for url in re.findall(URL_RE, _text(message)):
                    if urlsplit(url).path == path:
                        return url
        time.sleep(0.05)
    raise AssertionError(f"no email to {to} with a link to {path} within {timeout:.0f}s")


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _questions() -> dict[str, str]:
    fields: dict[str, str] = {}
    for n, (question, answer) in enumerate(ANSWERS.items(), start=1):
        fields[f"question_{n}"] = question
        fields[f"answer_{n}"] = answer
    return fields


def test_access_log_holds_no_secret_after_every_flow(
    live: LiveProvider, mail_server: SmtpServer
) -> None:
    secrets_seen: dict[str, str] = {}
    suffix = secrets.token_hex(4)
    email = f"grace-{suffix}@example.test"
    username = f"grace-{suffix}"
    live.track_username(username)
    http = requests.Session()
    try:
        # --- self sign-up through the emailed link ------------------------------------
        page = http.get(live.endpoint("/signup"))
        page = submit(
            http,
            page,
            "/signup",
            first_name="Grace",
            last_name="Hopper",
            dob="1990-05-17",
            zip="02139",
            gender="female",
            email=email,
        )
        page = submit(
            http,
            page,
            "/signup/account",
            username=username,
            password=PASSWORD,
            accept_terms="yes",
            **_questions(),
        )
        link = wait_for_link(mail_server, email, "/signup/verify")
        secrets_seen["sign-up link token"] = _query(link)["token"]
        page = http.get(link)
        page = submit(http, page, "/signup/verify")
        assert "Your account is ready" in page.text, page.text[:800]

        # --- an invitation from the practice's system, activated from its email --------
        portal_id = live.add_portal(f"northside-{suffix}")
        system = live.add_client(
            redirect_uris=[PORTAL],
            scope="portal:invitations",
            grant_types=["client_credentials"],
            portal_id=portal_id,
        )
        assert system.client_secret
        secrets_seen["practice system secret"] = system.client_secret
        token = http.post(
            live.endpoint("/token"),
            data={"grant_type": "client_credentials", "scope": "portal:invitations"},
            auth=(system.client_id, system.client_secret),
        ).json()["access_token"]
        secrets_seen["practice system access token"] = token
        invited = f"ada-{suffix}@example.test"
        created = http.post(
            live.endpoint("/api/invitations"),
            json={
                "patient_id": f"MRN-{suffix}",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "dob": "1985-12-10",
                "zip": "02139",
                "gender": "female",
                "email": invited,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        link = wait_for_link(mail_server, invited, "/activate")
        secrets_seen["activation code"] = _query(link)["code"]
        browser = requests.Session()
        page = browser.get(link)
        page = submit(browser, page, "/activate", dob="1985-12-10", zip="02139")
        ada = f"ada-{suffix}"
        live.track_username(ada)
        page = submit(
            browser,
            page,
            "/activate/account",
            username=ada,
            password=PASSWORD,
            accept_terms="yes",
            **_questions(),
        )
        assert urlsplit(page.url).path == "/activate/done", (page.url, page.text[:800])

        # --- password reset through the emailed link -----------------------------------
        page = http.get(live.endpoint("/forgot-password"))
        page = submit(http, page, "/forgot-password", username=username)
        link = wait_for_link(mail_server, email, "/reset/password")
        secrets_seen["reset link token"] = _query(link)["token"]
        page = http.get(link)
        page = submit(
            http, page, "/reset/password", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD
        )
        assert page.status_code == 200, page.text[:800]

        # --- sign in at a portal, a careless UserInfo call, logout with the hint -------
        rp = live.add_client(redirect_uris=[PORTAL], post_logout_redirect_uris=[SIGNED_OUT])
        assert rp.client_secret
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        secrets_seen.update(state=state, nonce=nonce, verifier=verifier)
        response = http.get(
            live.endpoint("/authorize"),
            params={
                "client_id": rp.client_id,
                "redirect_uri": PORTAL,
                "response_type": "code",
                "scope": "openid profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "login_hint": username,
            },
            allow_redirects=False,
        )
        location = urljoin(response.url, response.headers["Location"])
        for _ in range(8):  # login and consent pages, then back to the portal
            if location.startswith(PORTAL):
                break
            page = http.get(location, allow_redirects=False)
            path = urlsplit(location).path
            if page.is_redirect:
                step = page
            elif path == "/login":
                step = submit(
                    http, page, "/login", follow=False, username=username, password=NEW_PASSWORD
                )
            elif path == "/consent":
                step = submit(http, page, "/consent", follow=False, decision="allow")
            else:
                raise AssertionError(f"unexpected page {location}: {page.text[:500]}")
            location = urljoin(step.url, step.headers["Location"])
        code = _query(location)["code"]
        secrets_seen["authorization code"] = code
        tokens = http.post(
            live.endpoint("/token"),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": PORTAL,
                "code_verifier": verifier,
            },
            auth=(rp.client_id, rp.client_secret),
        ).json()
        secrets_seen["id token"] = tokens["id_token"]
        secrets_seen["access token"] = tokens["access_token"]
        secrets_seen["rp secret"] = rp.client_secret
        http.get(live.endpoint("/userinfo"), params={"access_token": tokens["access_token"]})
        logout = http.get(
            live.endpoint("/logout"),
            params={
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": SIGNED_OUT,
                "state": state,
            },
            allow_redirects=False,
        )
        assert logout.status_code in (302, 303), logout.text[:500]
        assert logout.headers["Location"].startswith(SIGNED_OUT)
    finally:
        _forget_throttles(live, [email])
    secrets_seen.update(password=PASSWORD, new_password=NEW_PASSWORD)
    secrets_seen.update({f"answer {q}": a for q, a in ANSWERS.items()})

    time.sleep(0.5)  # gunicorn writes the access log line after the response
    log = live.access_log_path.read_text(errors="replace")
    leaked = {
        name: value
        for name, value in secrets_seen.items()
        if value in log or value.replace(" ", "+") in log
    }
    assert not leaked, f"secrets in the access log: {sorted(leaked)}"
    # Nor in the server's own JSON log (app and gunicorn lines, request ids on them).
    server_log = live.log_path.read_text(errors="replace")
    assert not [
        n for n, v in secrets_seen.items() if v in server_log or v.replace(" ", "+") in server_log
    ]
    # The requests are there, with their secrets replaced.
    for request_line in (
        "GET /signup/verify?token=[redacted] HTTP/1.1",
        "GET /activate?code=[redacted] HTTP/1.1",
        "GET /reset/password?token=[redacted] HTTP/1.1",
        "GET /userinfo?access_token=[redacted] HTTP/1.1",
    ):
        assert request_line in log, request_line
    assert "/logout?id_token_hint=[redacted]" in log


def _forget_throttles(live: LiveProvider, emails: list[str]) -> None:
    """Sign-up throttle counters outlive the server in a shared Redis: remove ours."""
    if not live.backend.redis_url:
        return
    client = redis.Redis.from_url(live.backend.redis_url, decode_responses=True)
    try:
        throttle = Throttle(RedisEphemeralStore(client))
        throttle.reset(SIGNUP_IP_SCOPE, "127.0.0.1")
        for email in emails:
            throttle.reset(SIGNUP_EMAIL_SCOPE, email)
    finally:
        client.close()
