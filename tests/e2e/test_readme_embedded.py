"""The README's first hour on the embedded default: a server and the `idp` command, no Redis.

Issue 8 items 13 and 14, as a new user met them: the server (gunicorn, two workers)
and `idp` commands run as separate processes with the same settings and nothing
but the instance directory in common. No IDP_SECRET_KEY (development makes one and
keeps it in instance/), no IDP_REDIS_URL (the SQLite ephemeral store is shared).

1. `idp users add` makes Grace's account; the same person signing up on the pages
   gets the "you already have an account" email (identity matching under the same
   secret in both processes).
2. Five wrong passwords lock her user ID; `idp users unlock` (another process)
   ends the lock in the server too, and her password works again.
3. `idp serve --port` on another port records its address in the instance
   directory, and links printed by `idp` point there (item 15).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller

from idp.settings import PROJECT_ROOT
from tests.live import Backend, LiveProvider, _stop, live_provider
from tests.notify.conftest import Mailbox, SmtpServer, free_port

pytestmark = pytest.mark.live

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FLOW = re.compile(r'name="f" value="([^"]+)"')
MESSAGE_ID = re.compile(r'data-message-id="([^"]+)"')
PASSWORD = "quiet harbor lantern 1906"
GRACE = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "dob": "1990-02-03",
    "zip": "02139",
    "gender": "female",
    "email": "grace@example.org",
}
QUESTIONS = {
    "question_1": "first_concert",
    "answer_1": "The Rolling Stones",
    "question_2": "childhood_friend",
    "answer_2": "Margaret",
    "question_3": "first_job_street",
    "answer_3": "Elm Street",
}


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


def _shared_settings(mail: SmtpServer) -> dict[str, str]:
    """What the README's user sets: development, a mail server, nothing else."""
    return {
        "IDP_ENV": "development",
        "IDP_SECRET_KEY": "",  # unset: development keeps one in instance/
        "IDP_SMTP_HOST": mail.host,
        "IDP_SMTP_PORT": str(mail.port),
        "IDP_SMTP_SECURITY": "none",
    }


@pytest.fixture(scope="module")
def embedded(mail_server: SmtpServer) -> Iterator[LiveProvider]:
    # Always the embedded default, whatever backends the suite runs on.
    with live_provider(
        backend=Backend(),
        workers=2,
        password_hashing="owasp",
        extra_env=_shared_settings(mail_server),
    ) as provider:
        yield provider


def idp(provider: LiveProvider, mail: SmtpServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`idp ARGS` as its own process, with the server's settings (README: same settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        IDP_DATABASE_URL=provider.database_url,
        IDP_KEYS_DIR=str(provider.keys_dir),
        IDP_INSTANCE_DIR=str(provider.instance_dir),
        IDP_ISSUER=provider.issuer,
        IDP_PASSWORD_HASHING="owasp",
        **{k: v for k, v in _shared_settings(mail).items() if v},
    )
    return subprocess.run(
        [sys.executable, "-m", "idp.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _csrf(http: requests.Session, url: str) -> str:
    page = http.get(url, timeout=30)
    match = CSRF.search(page.text)
    assert match, page.text[:800]
    return match.group(1)


def _sign_in(provider: LiveProvider, username: str, password: str) -> str:
    with requests.Session() as http:
        csrf = _csrf(http, provider.endpoint("/login"))
        reply = http.post(
            provider.endpoint("/login"),
            data={"username": username, "password": password, "csrf_token": csrf},
            allow_redirects=False,
            timeout=60,
        )
    if reply.status_code == 303:
        return "signed_in"
    match = MESSAGE_ID.search(reply.text)
    assert match, reply.text[:800]
    return match.group(1)


def _wait_for_mail(mail: SmtpServer, to: str, subject: str, timeout: float = 20) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(mail.mailbox.messages):
            if message["To"] == to and subject in str(message["Subject"]):
                return message
        time.sleep(0.05)
    seen = [(str(m["To"]), str(m["Subject"])) for m in mail.mailbox.messages]
    raise AssertionError(f"no {subject!r} email to {to} within {timeout:.0f}s; got {seen}")


def test_cli_account_then_same_person_signs_up_and_is_told_by_email(
    embedded: LiveProvider, mail_server: SmtpServer
) -> None:
    added = idp(
        embedded,
        mail_server,
        "users",
        "add",
        "--username",
        "grace.h",
        "--password",
        PASSWORD,
        "--email",
        GRACE["email"],
        "--first-name",
        GRACE["first_name"],
        "--last-name",
        GRACE["last_name"],
        "--dob",
        GRACE["dob"],
        "--zip",
        GRACE["zip"],
        "--gender",
        GRACE["gender"],
    )
    assert added.returncode == 0, added.stderr
    assert (embedded.instance_dir / "secret_key").stat().st_mode & 0o077 == 0

    with requests.Session() as http:
        first = http.post(
            embedded.endpoint("/signup"),
            data={**GRACE, "csrf_token": _csrf(http, embedded.endpoint("/signup"))},
            timeout=30,
        )
        assert first.status_code == 200, first.text[:800]
        flow = FLOW.search(first.text)
        assert flow, first.text[:800]
        second = http.post(
            embedded.endpoint("/signup/account"),
            data={
                "f": flow.group(1),
                "username": "grace.again",
                "password": "another long pass phrase 77",
                "accept_terms": "yes",
                **QUESTIONS,
                "csrf_token": _csrf(http, embedded.endpoint("/signup")),
            },
            timeout=30,
        )
        assert second.status_code == 200, second.text[:800]

    _wait_for_mail(mail_server, GRACE["email"], "you already have an account")


def test_cli_unlock_ends_the_servers_lock(embedded: LiveProvider, mail_server: SmtpServer) -> None:
    added = idp(
        embedded,
        mail_server,
        "users",
        "add",
        "--username",
        "lin.locked",
        "--password",
        PASSWORD,
        "--email",
        "lin@example.org",
    )
    assert added.returncode == 0, added.stderr
    for i in range(5):
        assert _sign_in(embedded, "lin.locked", f"wrong guess {i}") in (
            "invalid_credentials",
            "account_locked",
        )
    assert _sign_in(embedded, "lin.locked", PASSWORD) == "account_locked"

    unlocked = idp(embedded, mail_server, "users", "unlock", "lin.locked")
    assert unlocked.returncode == 0, unlocked.stderr
    assert "unlocked" in unlocked.stdout

    assert _sign_in(embedded, "lin.locked", PASSWORD) == "signed_in"


def test_idp_serve_on_another_port_is_where_cli_links_point(tmp_path: Path) -> None:
    """README: `idp serve --port 5055`; then `idp users reset-link` prints a link there."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(
        IDP_ENV="development",
        IDP_INSTANCE_DIR=str(tmp_path / "instance"),
        IDP_KEYS_DIR=str(tmp_path / "keys"),
        IDP_PASSWORD_HASHING="owasp",
    )

    def idp_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "idp.cli", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "idp.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if (
                    requests.get(f"{url}/.well-known/openid-configuration", timeout=2).status_code
                    == 200
                ):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        assert (tmp_path / "instance" / "issuer").read_text().strip() == url
        added = idp_cli("users", "add", "--username", "kim", "--password", PASSWORD,
                        "--email", "kim@example.org")  # fmt: skip
        assert added.returncode == 0, added.stderr
        printed = idp_cli("users", "reset-link", "kim", "--staff", "Dana", "--reason", "ticket 7")
        assert printed.returncode == 0, printed.stderr
        link = printed.stdout.split()[0]
        assert link.startswith(f"{url}/reset/password?token=")
        assert requests.get(link, timeout=10).status_code == 200
    finally:
        _stop(server)
        log.close()
