"""The sign-in overview page (issue 11 item 2, "Sign-in overview"): bar charts per
hour or day, totals by portal, and the addresses with the most failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template, request

from idp.audit.overview import Bucket, RangeError, Series, parse_range
from idp.flows.staff.errors import StaffError
from idp.i18n import N_, translate
from idp.policies.staff_roles import Operation

from ..deps import request_meta, services
from ..forms import field
from ..staff_session import staff_required
from . import bp
from .charts import bar_chart
from .readable import coarse_location
from .refusals import refused, staff

TITLES = {
    Series.SIGN_INS: N_("Sign-ins"),
    Series.FAILURES: N_("Failed sign-ins"),
    Series.LOCKOUTS: N_("Lockouts"),
    Series.PASSWORD_RESETS: N_("Password resets"),
    Series.MFA_CHALLENGES: N_("Two-step verification checks"),
}


@bp.get("/overview")
@staff_required(Operation.AUDIT_SEARCH)
def overview() -> Any:
    values = {n: field(request.args, n, limit=16) for n in ("from", "to", "bucket")}
    today = services().clock().date()
    try:
        rng = parse_range(
            values["from"] or None, values["to"] or None, values["bucket"] or None, today=today
        )
        result = services().staff.audit.overview(staff(), rng, meta=request_meta())
    except RangeError as exc:
        html = render_template(
            "admin/overview.html", values=values, error=str(exc), error_field=exc.field
        )
        return html, 400
    except StaffError as exc:
        return refused(exc)
    fmt = "%d %b %H:00" if rng.bucket is Bucket.HOUR else "%d %b"
    labels = [b.strftime(fmt) for b in result.buckets]
    charts = [
        (series, bar_chart(translate(TITLES[series]), labels, result.counts[series]))
        for series in Series
    ]
    portals = sorted({p for counts in result.by_portal.values() for p in counts})
    return render_template(
        "admin/overview.html",
        values={
            "from": rng.since.date().isoformat(),
            "to": (rng.until - timedelta(days=1)).date().isoformat(),
            "bucket": rng.bucket.value,
        },
        charts=charts,
        titles=TITLES,
        portals=portals,
        by_portal=result.by_portal,
        top=[(ip, n, coarse_location(ip)) for ip, n in result.top_failing_addresses],
        rng=rng,
    )
