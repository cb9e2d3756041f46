"""The overview's pure parts: range parsing, event classification, bucketing, charts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from idp.audit.overview import (
    Bucket,
    OverviewEvent,
    RangeError,
    Series,
    classify,
    parse_range,
    summarise,
)
from idp.web.admin.charts import bar_chart, nice_ceiling
from idp.web.admin.readable import coarse_location

TODAY = date(2026, 12, 5)


def ev(kind: str, outcome: str = "success", hour: int = 9, **details) -> OverviewEvent:
    at = datetime(2026, 12, 4, hour, 30, tzinfo=UTC)
    return OverviewEvent(at, kind, outcome, "north", "203.0.113.9", details)


def test_default_range_is_the_last_seven_days_by_day() -> None:
    rng = parse_range(None, None, None, today=TODAY)
    assert rng.since == datetime(2026, 11, 29, tzinfo=UTC)
    assert rng.until == datetime(2026, 12, 6, tzinfo=UTC)
    assert rng.bucket is Bucket.DAY and len(rng.starts()) == 7
    assert parse_range("2026-12-04", "2026-12-05", None, today=TODAY).bucket is Bucket.HOUR


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("x", None, None), "from"),
        ((None, "2026-02-30", None), "to"),
        (("2026-12-05", "2026-12-04", None), "to"),
        (("2025-01-01", "2026-12-04", None), "from"),
        ((None, None, "week"), "bucket"),
        (("2026-11-01", "2026-12-04", "hour"), "bucket"),
    ],
)
def test_bad_ranges_name_the_field(args, field) -> None:
    with pytest.raises(RangeError) as info:
        parse_range(*args, today=TODAY)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("event", "series"),
    [
        (ev("login"), [Series.SIGN_INS]),
        (ev("login", method="totp"), [Series.SIGN_INS, Series.MFA_CHALLENGES]),
        (ev("login", "failure", reason="invalid_credentials"), [Series.FAILURES]),
        (
            ev("login", "failure", reason="second_factor_wrong_code"),
            [Series.FAILURES, Series.MFA_CHALLENGES],
        ),
        (ev("second_factor_verified", method="totp"), [Series.MFA_CHALLENGES]),
        (ev("login_refused", "failure"), [Series.FAILURES]),
        (ev("account_locked"), [Series.LOCKOUTS]),
        (ev("password_reset"), [Series.PASSWORD_RESETS]),
        (ev("password_reset", "failure"), []),
        (ev("logout"), []),
    ],
)
def test_classify(event, series) -> None:
    assert classify(event) == series


def test_summarise_buckets_and_ranks_failing_addresses() -> None:
    rng = parse_range("2026-12-04", "2026-12-04", "hour", today=TODAY)
    events = [ev("login", hour=9), ev("login", hour=9), ev("login", hour=23)]
    events += [
        OverviewEvent(datetime(2026, 12, 4, 10, tzinfo=UTC), "login", "failure", None, ip, {})
        for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.2")
    ]
    events.append(ev("login", hour=9))
    outside = OverviewEvent(
        datetime(2026, 12, 5, 0, tzinfo=UTC), "login", "success", None, None, {}
    )
    result = summarise([*events, outside], rng)
    assert len(result.buckets) == 24
    assert result.counts[Series.SIGN_INS][9] == 3 and result.counts[Series.SIGN_INS][23] == 1
    assert result.total(Series.SIGN_INS) == 4 and result.total(Series.FAILURES) == 3
    assert result.by_portal[Series.FAILURES] == {"": 3}
    assert result.top_failing_addresses == [("198.51.100.2", 2), ("198.51.100.1", 1)]


def test_charts_scale_to_a_round_top() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 99, 101)] == [
        1,
        1,
        5,
        10,
        10,
        20,
        100,
        200,
    ]
    chart = bar_chart("Sign-ins", ["a", "b", "c"], [0, 5, 10])
    assert [b.height for b in chart.bars][0] == 0
    assert chart.bars[2].height == 2 * chart.bars[1].height
    assert chart.bars[2].y + chart.bars[2].height == chart.baseline
    assert [t.value for t in chart.ticks] == [0, 5, 10] and chart.total == 15
    many = bar_chart("x", [str(i) for i in range(48)], [1] * 48)
    assert len(many.x_labels) == 12


def test_coarse_location() -> None:
    assert coarse_location("8.8.4.4") == "network 8.8.4.0/24"
    assert coarse_location("2001:4860::1") == "network 2001:4860::/48"
    assert coarse_location("10.1.2.3") == "network 10.1.2.0/24 (private or reserved)"
    assert coarse_location("127.0.0.1") == "this server (loopback)"
    assert coarse_location("not an ip") == coarse_location(None) == "unknown"
