"""A browser for load generators that costs the benchmark process as little as it can.

Why: the sign-in benchmarks run their browsers on the same two cores as the server,
so every millisecond of client CPU is taken from the provider under test. A
``requests`` session spends about a millisecond of Python per request (adapters,
cookie jar policy, header case-folding, redirect machinery); this keeps one
``http.client`` connection alive per browser, a plain dict for cookies and reads the
few things a code flow needs from the pages with two small regexes.

Not a general HTTP client: one origin, cookies without paths or domains (the
provider sets every cookie on ``/`` of its own host), redirects followed only where
the caller asks.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

_INPUT = re.compile(rb"<input\b[^>]*>", re.I)
_ATTR = re.compile(rb'([\w-]+)="([^"]*)"')
_FORM_ACTION = re.compile(rb'<form\b[^>]*action="([^"]*)"', re.I)
# Set-Cookie attributes that delete the cookie (werkzeug's delete_cookie sends both).
_EXPIRED = ("max-age=0", "expires=thu, 01 jan 1970")


class BrowserError(RuntimeError):
    """A response the flow did not expect (or a broken connection)."""


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    location: str | None
    body: bytes
    url: str


class LeanBrowser:
    """One kept-alive connection to ``origin`` and this browser's cookies."""

    def __init__(self, origin: str, *, timeout: float = 60.0) -> None:
        parts = urlsplit(origin)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError("LeanBrowser speaks plain HTTP to one host")
        self.origin = f"http://{parts.netloc}"
        self._host, self._port = parts.hostname, parts.port or 80
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> LeanBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Page:
        """One request, no redirect followed; cookies sent and stored."""
        absolute = urljoin(self.origin + "/", url)
        parts = urlsplit(absolute)
        target = parts.path + ("?" + parts.query if parts.query else "")
        sent = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            conn = self._conn or http.client.HTTPConnection(
                self._host, self._port, timeout=self._timeout
            )
            self._conn = conn
            try:
                conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # The server closed an idle kept-alive connection: open a new one once.
                self.close()
                if attempt == 2:
                    raise BrowserError(f"{method} {target}: {exc}") from exc
                continue
            if response.will_close:
                self.close()
            break
        for value in response.headers.get_all("Set-Cookie") or ():
            self._store_cookie(value)
        return Page(response.status, response.headers.get("Location"), data, absolute)

    def _store_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower()
        if any(marker in lowered for marker in _EXPIRED):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def follow(self, page: Page, *, limit: int = 6) -> Page:
        """GET each redirect target in turn until a page that is not a redirect."""
        for _ in range(limit):
            if page.status not in (301, 302, 303, 307, 308):
                return page
            page = self.request("GET", self.resolve(page))
        raise BrowserError("too many redirects")

    @staticmethod
    def resolve(page: Page) -> str:
        if page.location is None:
            raise BrowserError(f"{page.url}: {page.status} without a Location")
        return urljoin(page.url, page.location)


def form_of(page: Page) -> tuple[str, dict[str, str]]:
    """The first form's absolute action and its hidden fields."""
    found = _FORM_ACTION.search(page.body)
    if found is None:
        raise BrowserError(f"{page.url}: no form ({page.status})")
    action = urljoin(page.url, found.group(1).decode().replace("&amp;", "&"))
    fields = {}
    for tag in _INPUT.findall(page.body):
        attrs = dict(_ATTR.findall(tag))
        if attrs.get(b"type") == b"hidden" and b"name" in attrs:
            fields[attrs[b"name"].decode()] = attrs.get(b"value", b"").decode()
    return action, fields
