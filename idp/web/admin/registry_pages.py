"""Portals and clients on the console (issue 11 item 2), admin only: list, create,
rotate a client secret, edit redirect URIs, require MFA.

Thin views over ``services.staff.registry`` (the JSON API and ``idp clients add`` call
it too). A new secret is shown once, in the POST's own response (never stored, never
on a later page, ``Cache-Control: no-store``); every other change redirects (303)
back with a notice. Each change needs a reason except a creation, where it is optional.
"""

from __future__ import annotations

from typing import Any

from flask import make_response, redirect, render_template, request, session, url_for

from idp.flows.staff.errors import StaffError
from idp.flows.staff.registry import ClientInput, IssuedClient
from idp.i18n import translate
from idp.policies.staff_roles import Operation

from ..deps import request_meta, services
from ..forms import field
from ..staff_session import staff_required
from . import bp
from .refusals import refused, staff

NOTICE_KEY = "admin_notice"


def _page(
    *,
    error: str | None = None,
    status: int = 200,
    issued: IssuedClient | None = None,
    values: dict[str, str] | None = None,
) -> Any:
    registry = services().staff.registry
    try:
        portals = registry.portals(staff())
        clients = registry.clients(staff())
    except StaffError as exc:
        return refused(exc)
    html = render_template(
        "admin/registry.html",
        portals=portals,
        clients=clients,
        issued=issued,
        notice=session.pop(NOTICE_KEY, None),
        error=error,
        values=values or {},
    )
    response = make_response(html, status)
    if issued is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def _done(notice: str) -> Any:
    session[NOTICE_KEY] = notice
    return redirect(url_for("admin.registry"), code=303)


def _checked(name: str) -> bool:
    return field(request.form, name, limit=8) == "yes"


def _reason() -> str | None:
    return field(request.form, "reason", limit=600) or None


def _uris(name: str) -> list[str]:
    return field(request.form, name, limit=20_000).splitlines()


@bp.get("/portals")
@staff_required(Operation.PORTAL_LIST)
def registry() -> Any:
    return _page()


@bp.post("/portals/create")
@staff_required(Operation.PORTAL_CREATE)
def portal_create() -> Any:
    values = {k: field(request.form, k, limit=200) for k in ("slug", "name")}
    try:
        portal = services().staff.registry.create_portal(
            staff(),
            slug=values["slug"],
            name=values["name"],
            require_mfa=_checked("require_mfa"),
            reason=_reason(),
            meta=request_meta(),
        )
    except StaffError as exc:
        return (
            refused(exc)
            if exc.status == 403
            else _page(error=exc.message, status=exc.status, values=values)
        )
    return _done(translate("Portal {slug} created.").format(slug=portal.slug))


@bp.post("/portals/mfa")
@staff_required(Operation.PORTAL_REQUIRE_MFA)
def portal_mfa() -> Any:
    slug = field(request.form, "portal", limit=64)
    required = _checked("require_mfa")
    try:
        services().staff.registry.set_portal_mfa(
            staff(), slug, required=required, reason=_reason(), meta=request_meta()
        )
    except StaffError as exc:
        return refused(exc) if exc.status == 403 else _page(error=exc.message, status=exc.status)
    if required:
        return _done(
            translate("Every client of {slug} now needs a second factor.").format(slug=slug)
        )
    return _done(
        translate("Every client of {slug} no longer needs a second factor.").format(slug=slug)
    )


@bp.post("/clients/create")
@staff_required(Operation.CLIENT_CREATE)
def client_create() -> Any:
    values = {
        "name": field(request.form, "name", limit=200),
        "portal": field(request.form, "portal", limit=64),
        "redirect_uris": field(request.form, "redirect_uris", limit=20_000),
    }
    new = ClientInput(
        name=values["name"],
        portal=values["portal"] or None,
        redirect_uris=values["redirect_uris"].splitlines(),
        public=_checked("public"),
        require_mfa=_checked("require_mfa"),
    )
    try:
        issued = services().staff.registry.create_client(
            staff(), new, reason=_reason(), meta=request_meta()
        )
    except StaffError as exc:
        return (
            refused(exc)
            if exc.status == 403
            else _page(error=exc.message, status=exc.status, values=values)
        )
    return _page(issued=issued)


@bp.post("/clients/rotate")
@staff_required(Operation.CLIENT_ROTATE_SECRET)
def client_rotate() -> Any:
    client_id = field(request.form, "client_id", limit=64)
    try:
        issued = services().staff.registry.rotate_secret(
            staff(), client_id, reason=_reason(), meta=request_meta()
        )
    except StaffError as exc:
        return refused(exc) if exc.status == 403 else _page(error=exc.message, status=exc.status)
    return _page(issued=issued)


@bp.post("/clients/redirect-uris")
@staff_required(Operation.CLIENT_EDIT_REDIRECT_URIS)
def client_redirect_uris() -> Any:
    client_id = field(request.form, "client_id", limit=64)
    try:
        services().staff.registry.set_redirect_uris(
            staff(), client_id, _uris("redirect_uris"), reason=_reason(), meta=request_meta()
        )
    except StaffError as exc:
        return refused(exc) if exc.status == 403 else _page(error=exc.message, status=exc.status)
    return _done(translate("Redirect URIs of {client_id} saved.").format(client_id=client_id))


@bp.post("/clients/mfa")
@staff_required(Operation.CLIENT_REQUIRE_MFA)
def client_mfa() -> Any:
    client_id = field(request.form, "client_id", limit=64)
    required = _checked("require_mfa")
    try:
        services().staff.registry.set_client_mfa(
            staff(), client_id, required=required, reason=_reason(), meta=request_meta()
        )
    except StaffError as exc:
        return refused(exc) if exc.status == 403 else _page(error=exc.message, status=exc.status)
    if required:
        text = translate("Sign-ins to {client_id} now need a second factor.")
    else:
        text = translate("Sign-ins to {client_id} no longer need a second factor.")
    return _done(text.format(client_id=client_id))
