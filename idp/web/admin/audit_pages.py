"""Audit search and export pages (issue 11 item 2, "Audit search").

The search is a GET form (a result page can be bookmarked and paged with the
``after`` cursor); the export is a POST with the CSRF token, so another site
cannot make a staff member's browser start one, and streams CSV or JSON Lines
straight from the database cursor. Both go through
:class:`idp.flows.staff.audit_trail.AuditTrail`, which checks the role and portals and
records the read on the trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Response, render_template, request, stream_with_context

from idp.audit.export import FORMATS, iter_export
from idp.audit.search import OUTCOMES, AuditFilter, Cursor, FilterError, parse_filter
from idp.flows.staff.errors import StaffError
from idp.messages.account import ACTIVITY_LABELS
from idp.policies.staff_roles import Operation, audit_portals, may

from ..deps import request_meta, services
from ..forms import field
from ..staff_session import staff_required
from . import bp
from .readable import coarse_location, describe_device
from .refusals import refused, staff

FIELDS = ("from", "to", "user", "type", "outcome", "portal", "client", "ip", "actor")
PAGE_SIZE = 50
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _values(source: Mapping[str, str]) -> dict[str, str]:
    return {name: field(source, name, limit=200) for name in FIELDS}


def _filter(values: dict[str, str]) -> AuditFilter:
    """Empty fields mean "any"; the rest are parsed exactly as ``idp audit search`` does."""
    given = {k: v or None for k, v in values.items()}
    return parse_filter(
        since=given["from"],
        until=given["to"],
        user=given["user"],
        types=[t for t in (given["type"] or "").replace(",", " ").split() if t],
        outcome=given["outcome"],
        client=given["client"],
        portal=given["portal"],
        ip=given["ip"],
        actor=given["actor"],
    )


def _portal_choices() -> list[tuple[str, str]]:
    """The portals this staff member may filter by (a practice: only their own)."""
    mine = audit_portals(staff())
    with services().db.transaction() as uow:
        portals = uow.portals.list()
    return [(p.slug, p.name) for p in portals if mine is None or p.slug in mine]


def _readable(row: Any) -> dict[str, Any]:
    return {
        "row": row,
        "label": ACTIVITY_LABELS.get(row.type, row.type.replace("_", " ")),
        "device": describe_device(row.user_agent),
        "place": coarse_location(row.ip),
        "reason": row.details.get("reason") if isinstance(row.details, dict) else None,
    }


def _page(values: dict[str, str], status: int = 200, **extra: Any) -> tuple[str, int]:
    principal = staff()
    html = render_template(
        "admin/audit.html",
        values=values,
        outcomes=OUTCOMES,
        formats=FORMATS,
        portals=_portal_choices(),
        can_export=may(principal.role, Operation.AUDIT_EXPORT),
        confined=audit_portals(principal),
        **extra,
    )
    return html, status


def _refusal(values: dict[str, str], exc: StaffError) -> Any:
    """A role or portal outside the reader's: the refusal page; bad input: the form."""
    if exc.status == 403:
        return refused(exc)
    return _page(values, exc.status, error=exc.message)


@bp.get("/audit")
@staff_required(Operation.AUDIT_SEARCH)
def audit_search() -> Any:
    values = _values(request.args)
    try:
        f = _filter(values)
        after = request.args.get("after")
        cursor = Cursor.decode(after) if after else None
        page = services().staff.audit.search(
            staff(), f, limit=PAGE_SIZE, after=cursor, meta=request_meta()
        )
    except FilterError as exc:
        return _page(values, 400, error=str(exc), error_field=exc.field)
    except StaffError as exc:
        return _refusal(values, exc)
    query = {k: v for k, v in values.items() if v}
    return _page(
        values,
        rows=[_readable(r) for r in page.rows],
        next_query={**query, "after": page.next.encode()} if page.next else None,
        first_query=query if cursor else None,
    )


@bp.post("/audit/export")
@staff_required(Operation.AUDIT_EXPORT)
def audit_export() -> Any:
    values = _values(request.form)
    fmt = field(request.form, "format", limit=8)
    try:
        rows = services().staff.audit.export(staff(), _filter(values), fmt=fmt, meta=request_meta())
    except FilterError as exc:
        return _page(values, 400, error=str(exc), error_field=exc.field)
    except StaffError as exc:
        return _refusal(values, exc)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(iter_export(fmt, rows)), mimetype=CONTENT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    return response
