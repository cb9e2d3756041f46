"""The console's audit search and export: every filter, readable rows, keyset pages,
streamed exports, every read audited, bad input refused with nothing written."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from idp.policies.staff_roles import Role
from idp.services import Services

from ..helpers import csrf_token
from .conftest import audit_count

ROW = re.compile(r'<tr data-event-id="(\d+)" data-event="([a-z_]+)" data-outcome="([a-z]+)"')
TO = {"to": "2026-11-21"}


def ns(html: str) -> list[str]:
    """The (event type, outcome) of each result row, in page order."""
    return [f"{m.group(2)}/{m.group(3)}" for m in ROW.finditer(html)]


def search(browser: FlaskClient, status: int = 200, **params: Any) -> str:
    response = browser.get("/admin/audit", query_string={**TO, **params})
    assert response.status_code == status, response.text[:500]
    return response.text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            [
                "login/success",
                "password_reset/success",
                "account_locked/success",
                "login/failure",
                "login/success",
                "login/failure",
            ],
        ),
        ({"from": "2026-11-21"}, ["login/success", "password_reset/success"]),
        ({"user": "alice"}, ["login/success", "login/failure"]),
        ({"user": "Bob Jones", "outcome": "failure"}, ["login/failure"]),
        (
            {"type": "account_locked password_reset"},
            ["password_reset/success", "account_locked/success"],
        ),
        ({"portal": "northside"}, ["login/success", "login/failure"]),
        ({"ip": "198.51.100.0/24"}, ["account_locked/success", "login/failure"]),
        ({"ip": "2001:db8::/32"}, ["login/success"]),
        ({"actor": "nobody"}, []),
    ],
)
def test_filters(client, as_staff, trail, params, expected) -> None:
    as_staff(Role.AUDITOR)
    assert ns(search(client, **params)) == expected


def test_client_filter_and_rows_name_the_patient(client, as_staff, trail) -> None:
    as_staff(Role.AUDITOR)
    html = search(client, client=trail["north"], outcome="failure")
    assert ns(html) == ["login/failure"]
    assert "alice" in html and "Alice Smith" in html
    assert trail["alice"] not in html  # the internal subject never shows
    assert "Firefox on Linux" in html and "network 203.0.113.0/24" in html
    assert "invalid_credentials" in html


def test_pages_cover_everything_once(client, as_staff, trail, monkeypatch) -> None:
    monkeypatch.setattr("idp.web.admin.audit_pages.PAGE_SIZE", 4)
    as_staff(Role.AUDITOR)
    html = search(client)
    seen = [int(m.group(1)) for m in ROW.finditer(html)]
    more = re.search(r'href="([^"]+)" rel="next"', html)
    assert more and len(seen) == 4
    url = more.group(1).replace("&amp;", "&")
    second = client.get(url).text
    seen += [int(m.group(1)) for m in ROW.finditer(second)]
    assert 'rel="next"' not in second and "Newest events" in second
    assert len(seen) == len(set(seen)) == 6
    assert seen == sorted(seen, reverse=True)


def test_every_search_is_audited(client, as_staff, trail, services: Services) -> None:
    as_staff(Role.AUDITOR, name="dora")
    search(client, outcome="failure", ip="203.0.113.0/24")
    html = search(client, type="audit_searched", to="2099-01-01")
    assert ns(html)[0] == "audit_searched/success"
    with services.db.transaction() as uow:
        event = uow.audit.tail(50)[-2]  # the last is the second search
    assert event.type == "audit_searched" and event.actor == "staff:dora"
    assert event.details == {
        "filters": {
            "to": "2026-11-22T00:00:00+00:00",
            "outcome": "failure",
            "ip": "203.0.113.0/24",
        },
        "results": 1,
        "operation": "audit_search",
        "staff_role": "auditor",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from:"),
        ({"to": "yesterday"}, "to:"),
        ({"from": "2026-11-22", "to": "2026-11-20"}, "to:"),
        ({"ip": "300.1.2.3"}, "ip:"),
        ({"outcome": "failed"}, "outcome:"),
        ({"type": "Login;DROP"}, "type:"),
        ({"user": "x" * 150}, "user:"),
        ({"portal": "nowhere"}, "no portal with slug"),
        ({"after": "garbage"}, "after:"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    client, as_staff, trail, services: Services, params, field
) -> None:
    as_staff(Role.ADMIN)
    before = audit_count(services)
    html = search(client, 400, **params)
    assert field in html and 'role="alert"' in html
    assert audit_count(services) == before


def _export(browser: FlaskClient, fmt: str, **fields: str):
    token = csrf_token(search(browser))
    return browser.post(
        "/admin/audit/export", data={"csrf_token": token, "format": fmt, **TO, **fields}
    )


def test_export_csv_streams_the_filtered_set(client, as_staff, trail, services) -> None:
    as_staff(Role.AUDITOR, name="dora")
    response = _export(client, "csv", user="bob")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [json.loads(r["details"])["n"] for r in rows] == [6, 5, 4, 3]
    assert rows[0]["user_id"] == "bob" and rows[0]["name"] == "Bob Jones"
    assert audit_count(services, "audit_exported") == 1


def test_export_jsonl(client, as_staff, trail) -> None:
    as_staff(Role.ADMIN)
    response = _export(client, "jsonl", portal="southside")
    lines = [json.loads(x) for x in response.get_data(as_text=True).splitlines()]
    assert [x["details"]["n"] for x in lines] == [6, 4, 3]


def test_export_needs_csrf_and_post(client, as_staff, trail, services) -> None:
    as_staff(Role.AUDITOR)
    before = audit_count(services)
    assert client.post("/admin/audit/export", data={"format": "csv"}).status_code == 400
    assert client.get("/admin/audit/export").status_code == 405
    response = _export(client, "xml")
    assert response.status_code == 400 and "format must be one of" in response.text
    response = _export(client, "csv", ip="not-an-ip")
    assert response.status_code == 400 and "ip:" in response.text
    assert audit_count(services) == before + 2  # the two search pages that gave tokens
    assert audit_count(services, "audit_exported") == 0
