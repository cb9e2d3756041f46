"""A patient's browser reduced to ``requests.Session``: follow redirects, fill forms.

Only what a browser would do with the provider's HTML: read the form that is on
the page (its action and every hidden input, CSRF token included), type into the
fields the DESIGN.md contract names, press the named button. Nothing here knows
the provider's paths, so the tests break only where the contract does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    # (name, value) of each named submit button.
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "button"):
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            name = a.get("name")
            if kind == "submit":
                if name:
                    self._current.buttons.append((name, a.get("value", "")))
            elif name:
                self._current.fields[name] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Journey:
    """What happened while following one authorization request."""

    pages: list[str] = field(default_factory=list)  # URLs of pages that showed a form
    logins: int = 0
    consents: int = 0
    final_url: str = ""


class PatientBrowser:
    """Drives the provider's pages like a person with a password would.

    ``fresh_connections`` sends ``Connection: close`` so that every request opens a
    new TCP connection, which the kernel may hand to any gunicorn worker: with two
    workers, one sign-in then crosses processes (cookies, interactions, sessions).
    """

    def __init__(self, *, fresh_connections: bool = False) -> None:
        self.http = requests.Session()
        if fresh_connections:
            self.http.headers["Connection"] = "close"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PatientBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authorize(
        self,
        url: str,
        *,
        stop_at: str,
        username: str | None = None,
        password: str | None = None,
        consent: str = "allow",
        max_steps: int = 12,
    ) -> Journey:
        """Follow ``url`` until the provider redirects to ``stop_at`` (never fetched).

        A login form gets ``username``/``password``; a consent form gets the button
        ``decision=<consent>``. Any other page fails the test with its text.
        """
        journey = Journey()
        method, data = "GET", None
        for _ in range(max_steps):
            with self.http.request(
                method, url, data=data, allow_redirects=False, timeout=30
            ) as response:
                if response.status_code in REDIRECTS:
                    url = urljoin(url, response.headers["Location"])
                    method, data = "GET", None
                    if url.startswith(stop_at):
                        journey.final_url = url
                        return journey
                    continue
                html, page_url, status = response.text, response.url, response.status_code
            form = self._form_on(html, page_url, status)
            journey.pages.append(page_url)
            data = dict(form.fields)
            if "password" in form.fields:
                assert username is not None and password is not None, "unexpected login page"
                data.update(username=username, password=password)
                journey.logins += 1
            elif ("decision", consent) in form.buttons:
                data["decision"] = consent
                journey.consents += 1
            else:
                raise AssertionError(f"unexpected page at {page_url}:\n{html[:2000]}")
            url, method = urljoin(page_url, form.action), form.method.upper()
        raise AssertionError(f"no redirect to {stop_at} after {max_steps} steps")

    @staticmethod
    def _form_on(html: str, url: str, status: int) -> Form:
        posts = [f for f in forms(html) if f.method == "post"]
        if status != 200 or len(posts) != 1:
            raise AssertionError(f"{url} answered {status} without one form:\n{html[:2000]}")
        return posts[0]
