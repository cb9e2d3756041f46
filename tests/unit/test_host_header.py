"""Host header validation at the WSGI edge (idp/web/hosts.py)."""

from __future__ import annotations

import pytest

from idp.web.hosts import HostGuard, host_is_valid


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1:5000",
        "[::1]:8080",
        "idp.example.org",
        "idp.example.org.",
        "a" * 63 + ".example.org",
        "xn--bcher-kva.example",
        "internal_host:443",
    ],
)
def test_host_names_are_accepted(host: str) -> None:
    assert host_is_valid(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "a" * 64 + ".example.org",  # a DNS label is at most 63 octets (RFC 1035 §2.3.4)
        ("a" * 60 + ".") * 5,  # over 253 characters in all
        "xn--zz.example.org",  # a broken punycode label
        "a..b",
        ".",
        "[::1",
        "[not-an-address]",
        "host:port",
        "host:99999",
        "host:",
        "ex\xe4mple.org",
        "evil.example/path",
        "a b",
    ],
)
def test_malformed_hosts_are_refused(host: str) -> None:
    assert not host_is_valid(host)


def test_guard_answers_400_without_calling_the_app() -> None:
    called: list[dict[str, str]] = []
    statuses: list[str] = []

    def app(environ: dict[str, str], start_response: object) -> list[bytes]:
        called.append(environ)
        return [b"app"]

    guard = HostGuard(app)
    body = guard({"HTTP_HOST": "xn--zz.example.org"}, lambda s, h: statuses.append(s))
    assert statuses == ["400 Bad Request"] and b"Host" in b"".join(body)
    assert not called
    assert guard({"HTTP_HOST": "idp.example.org"}, lambda s, h: None) == [b"app"]
    assert len(called) == 1
