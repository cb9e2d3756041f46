"""The sign-in overview: audit events counted per hour or day, per series and portal
(issue 11 item 2, "Sign-in overview").

The store streams the few columns of the event types counted here; this module
sorts each event into a series and a time bucket, and ranks the addresses with the
most failures (possible attacks). Counting happens as rows arrive, so memory
grows with the number of buckets and addresses, never with the number of events.
Pure: no I/O, no clock; the caller passes the range.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from idp.i18n import translate


class Series(StrEnum):
    SIGN_INS = "sign_ins"
    FAILURES = "failures"
    LOCKOUTS = "lockouts"
    PASSWORD_RESETS = "password_resets"
    MFA_CHALLENGES = "mfa_challenges"


class Bucket(StrEnum):
    HOUR = "hour"
    DAY = "day"


# The event types the overview reads; the store fetches only these.
COUNTED_TYPES = (
    "login",
    "login_refused",
    "account_locked",
    "password_reset",
    "second_factor_verified",
)
# At most this many bars per chart: an hourly chart covers up to 14 days.
MAX_BUCKETS = 400
MAX_RANGE = timedelta(days=400)
TOP_ADDRESSES = 10


class RangeError(ValueError):
    """A range the overview refuses; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class OverviewEvent:
    """The columns of one counted event."""

    at: datetime
    type: str
    outcome: str
    portal: str | None
    ip: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OverviewRange:
    since: datetime
    until: datetime
    bucket: Bucket

    def starts(self) -> list[datetime]:
        step = timedelta(hours=1) if self.bucket is Bucket.HOUR else timedelta(days=1)
        first = bucket_start(self.since, self.bucket)
        return [first + step * i for i in range(math.ceil((self.until - first) / step))]


@dataclass(frozen=True, slots=True)
class Overview:
    range: OverviewRange
    buckets: list[datetime]
    # series -> counts per bucket (same order as ``buckets``)
    counts: dict[Series, list[int]]
    # series -> portal slug ("" for events without a portal) -> total
    by_portal: dict[Series, dict[str, int]]
    top_failing_addresses: list[tuple[str, int]]

    def total(self, series: Series) -> int:
        return sum(self.counts[series])


def bucket_start(at: datetime, bucket: Bucket) -> datetime:
    at = at.astimezone(UTC)
    if bucket is Bucket.HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    return datetime.combine(at.date(), time(), UTC)


def parse_range(
    since: str | None, until: str | None, bucket: str | None, *, today: date
) -> OverviewRange:
    """Whole UTC days from ``since`` through ``until`` (default: the last 7 days).

    The bucket defaults to hours for up to two days and days beyond; a range with
    more than ``MAX_BUCKETS`` bars is refused rather than drawn unreadably.
    """
    try:
        last = date.fromisoformat(until) if until else today
    except ValueError:
        raise RangeError(
            "to", translate("{until} is not a date (YYYY-MM-DD)").format(until=repr(until))
        ) from None
    try:
        first = date.fromisoformat(since) if since else last - timedelta(days=6)
    except ValueError:
        raise RangeError(
            "from", translate("{since} is not a date (YYYY-MM-DD)").format(since=repr(since))
        ) from None
    if first > last:
        raise RangeError("to", translate("must not be before the start"))
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC)
    if end - start > MAX_RANGE:
        raise RangeError(
            "from", translate("the range may cover at most {days} days").format(days=MAX_RANGE.days)
        )
    if bucket in (None, ""):
        chosen = Bucket.HOUR if end - start <= timedelta(days=2) else Bucket.DAY
    else:
        try:
            chosen = Bucket(bucket)
        except ValueError:
            raise RangeError("bucket", translate("must be hour or day")) from None
    result = OverviewRange(start, end, chosen)
    if len(result.starts()) > MAX_BUCKETS:
        raise RangeError(
            "bucket",
            translate("more than {MAX_BUCKETS} bars: choose day, or a shorter range").format(
                MAX_BUCKETS=MAX_BUCKETS
            ),
        )
    return result


def classify(event: OverviewEvent) -> list[Series]:
    """The series one event counts in (a failed second step is a failure and a challenge)."""
    reason = str(event.details.get("reason") or "")
    second_step = "method" in event.details or reason.startswith("second_factor_")
    found: list[Series] = []
    if event.type in ("login", "second_factor_verified"):
        if event.type == "login" and event.outcome == "success":
            found.append(Series.SIGN_INS)
        if event.outcome == "failure":
            found.append(Series.FAILURES)
        if second_step:
            found.append(Series.MFA_CHALLENGES)
    elif event.type == "login_refused":
        found.append(Series.FAILURES)
    elif event.type == "account_locked":
        found.append(Series.LOCKOUTS)
    elif event.type == "password_reset" and event.outcome == "success":
        found.append(Series.PASSWORD_RESETS)
    return found


def summarise(events: Iterable[OverviewEvent], rng: OverviewRange) -> Overview:
    """Count ``events`` (any order) into the range's buckets; events outside it are ignored."""
    buckets = rng.starts()
    index = {start: i for i, start in enumerate(buckets)}
    counts = {s: [0] * len(buckets) for s in Series}
    by_portal: dict[Series, Counter[str]] = {s: Counter() for s in Series}
    failing: Counter[str] = Counter()
    for event in events:
        if not rng.since <= event.at < rng.until:
            continue
        i = index.get(bucket_start(event.at, rng.bucket))
        if i is None:
            continue
        for series in classify(event):
            counts[series][i] += 1
            by_portal[series][event.portal or ""] += 1
            if series is Series.FAILURES and event.ip:
                failing[event.ip] += 1
    top = sorted(failing.items(), key=lambda item: (-item[1], item[0]))[:TOP_ADDRESSES]
    return Overview(
        range=rng,
        buckets=buckets,
        counts=counts,
        by_portal={s: dict(sorted(c.items())) for s, c in by_portal.items()},
        top_failing_addresses=top,
    )
