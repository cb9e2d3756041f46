"""The sign-in overview page: SVG charts with the trail's counts, portals, top addresses."""

from __future__ import annotations

import re

from idp.policies.staff_roles import Role

from .conftest import audit_count

RANGE = {"from": "2026-11-20", "to": "2026-11-21"}


def test_charts_count_the_range(client, as_staff, trail, services) -> None:
    as_staff(Role.AUDITOR)
    before = audit_count(services, "audit_searched")
    html = client.get("/admin/overview", query_string=RANGE).text
    for caption in (
        "Sign-ins: 2 in all",
        "Failed sign-ins: 2 in all",
        "Lockouts: 1 in all",
        "Password resets: 1 in all",
        "Two-step verification checks: 0 in all",
    ):
        assert caption in html
    assert html.count("<svg") == 5 and 'role="img"' in html
    # 48 hourly bars per chart, each with its number for screen readers.
    assert len(re.findall(r"<rect ", html)) == 5 * 48
    assert "<title>20 Nov 09:00: 1</title>" in html
    # Totals by portal and the addresses with most failures (one each).
    assert re.search(r"<th scope=\"row\">northside</th><td>1</td><td>1</td>", html)
    assert "203.0.113.5" in html and "198.51.100.7" in html
    assert audit_count(services, "audit_searched") == before + 1


def test_daily_buckets_and_bad_ranges(client, as_staff, trail, services) -> None:
    as_staff(Role.ADMIN)
    html = client.get("/admin/overview", query_string={**RANGE, "bucket": "day"}).text
    assert len(re.findall(r"<rect ", html)) == 5 * 2
    before = audit_count(services)
    for bad, field in (
        ({"from": "2026-02-30"}, "from"),
        ({"to": "soon"}, "to"),
        ({"from": "2026-11-22", "to": "2026-11-21"}, "to"),
        ({"from": "2020-01-01", "to": "2026-11-21"}, "from"),
        ({"bucket": "minute"}, "bucket"),
        ({"from": "2026-01-01", "to": "2026-11-21", "bucket": "hour"}, "bucket"),
    ):
        response = client.get("/admin/overview", query_string=bad)
        assert response.status_code == 400 and f"{field}:" in response.text, bad
    assert audit_count(services) == before
