"""Portals and their OIDC clients as staff operations (issue 11 item 2): list, create a
portal or a client, rotate a client secret, edit redirect URIs, require MFA.

Admin only (``idp.policies.staff_roles``: the practice role has no portal or client
operation). A practice's staff neither read nor edit clients: a wrong redirect URI
hands patients' codes to whoever owns it, so that change stays with the provider's
admins, who hear about it from the practice.

A new secret is returned once, to the caller that asked (the console shows it on the
POST's response only, the API in its body, the CLI prints it); only its SHA-256 is
stored. Every change is audited (``portal_created``, ``client_created``,
``client_secret_rotated``, ``client_redirect_uris_changed``, ``*_mfa_changed``) with
the staff actor, role and reason, in the same transaction; after it commits, every
process drops its cached clients (``ClientDirectory.changed``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from idp.clock import Clock
from idp.i18n import N_, translate
from idp.oidc.backchannel import BackchannelUriError, check_backchannel_uri
from idp.oidc.claims import API_SCOPES, REGISTRABLE_SCOPES
from idp.oidc.models import secret_hash
from idp.oidc.smart import is_patient_scope
from idp.oidc.subject import SectorError, sector_identifier
from idp.policies.redirect_uris import MAX_URIS, check_redirect_uris, reason_text
from idp.policies.staff_roles import Operation, StaffPrincipal
from idp.records import ClientRecord, PortalRecord, RequestMeta
from idp.store.accounts import DuplicateError
from idp.store.clients import NewClient
from idp.store.interfaces import Transactions

from .access import authorize, staff_event
from .errors import Conflict, InvalidInput, NotFound
from .inputs import check_reason

SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
DEFAULT_SCOPE = "openid profile email phone address offline_access"
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class ClientInput:
    """A client as staff describe it (console form, API body, ``idp clients add``)."""

    name: str
    redirect_uris: Sequence[str]
    portal: str | None = None
    post_logout_redirect_uris: Sequence[str] = ()
    scope: str = DEFAULT_SCOPE
    public: bool = False
    first_party: bool = False
    require_mfa: bool = False
    client_credentials: bool = False
    subject_type: str = "public"
    id_token_alg: str = "RS256"
    auth_method: str = "client_secret_basic"
    pkce_optional: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False


@dataclass(frozen=True, slots=True)
class IssuedClient:
    """A client and, for a confidential one, its secret: shown now, never again."""

    client: ClientRecord
    secret: str | None = field(repr=False, default=None)


def check_uris(uris: Sequence[str], what: str) -> list[str]:
    kept, refused = check_redirect_uris([u.strip() for u in uris if u.strip()])
    if refused:
        uri, reason = refused[0]
        raise InvalidInput(
            translate("{what} {uri} {reason}").format(
                what=translate(what), uri=repr(uri), reason=reason_text(reason)
            )
        )
    if len(kept) > MAX_URIS:
        raise InvalidInput(
            translate("at most {MAX_URIS} of: {what}").format(
                MAX_URIS=MAX_URIS, what=translate(what)
            )
        )
    return kept


def check_slug(slug: str) -> str:
    if not slug or set(slug) - SLUG_CHARS or len(slug) > 64:
        raise InvalidInput(
            translate("a portal's short name (slug) holds only a-z, 0-9 and '-' (at most 64)")
        )
    return slug


def _name(text: str, what: str) -> str:
    value = " ".join(text.split())
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise InvalidInput(
            translate("the {what} must be 1-{MAX_NAME} printable characters").format(
                what=translate(what), MAX_NAME=MAX_NAME
            )
        )
    return value


def _scopes(new: ClientInput) -> list[str]:
    scopes = list(dict.fromkeys(new.scope.split()))
    unknown = [s for s in scopes if s not in REGISTRABLE_SCOPES and not is_patient_scope(s)]
    if "openid" not in scopes or unknown:
        raise InvalidInput(
            translate(
                "the scope must include openid and only {scopes} "
                "or SMART v2 patient scopes (patient/Observation.rs, patient/*.rs)"
            ).format(scopes=" ".join(REGISTRABLE_SCOPES))
        )
    if set(scopes) & set(API_SCOPES) and not new.client_credentials:
        raise InvalidInput(
            translate("API scopes ({scopes}) need the client_credentials grant").format(
                scopes=" ".join(API_SCOPES)
            )
        )
    return scopes


class PortalRegistry:
    def __init__(
        self, *, db: Transactions, clock: Clock, clients_changed: Callable[[], None]
    ) -> None:
        self._db = db
        self._clock = clock
        self._clients_changed = clients_changed

    # --- reading ------------------------------------------------------------------------

    def portals(self, principal: StaffPrincipal) -> list[PortalRecord]:
        authorize(principal, Operation.PORTAL_LIST)
        with self._db.transaction() as uow:
            return list(uow.portals.list())

    def clients(self, principal: StaffPrincipal) -> list[ClientRecord]:
        authorize(principal, Operation.CLIENT_LIST)
        with self._db.transaction() as uow:
            return list(uow.clients.list())

    # --- portals ------------------------------------------------------------------------

    def create_portal(
        self,
        principal: StaffPrincipal,
        *,
        slug: str,
        name: str,
        require_mfa: bool = False,
        reason: str | None = None,
        meta: RequestMeta | None = None,
    ) -> PortalRecord:
        authorize(principal, Operation.PORTAL_CREATE)
        name, slug = _name(name, N_("portal name")), check_slug(slug.strip())
        why = check_reason(reason, required=False)
        now = self._clock()
        try:
            with self._db.transaction() as uow:
                portal: PortalRecord = uow.portals.add(slug=slug, name=name, now=now)
                if require_mfa:
                    portal = uow.portals.set_require_mfa(portal.id, True)
                uow.audit.record(
                    staff_event(
                        principal,
                        "portal_created",
                        Operation.PORTAL_CREATE,
                        portal=slug,
                        reason=why,
                        meta=meta,
                        require_mfa=require_mfa,
                    ),
                    now=now,
                )
        except DuplicateError:
            raise Conflict(
                translate("a portal with slug {slug} already exists").format(slug=repr(slug))
            ) from None
        return portal

    def set_portal_mfa(
        self,
        principal: StaffPrincipal,
        slug: str,
        *,
        required: bool,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> PortalRecord:
        authorize(principal, Operation.PORTAL_REQUIRE_MFA)
        why = check_reason(reason, required=True)
        now = self._clock()
        with self._db.transaction() as uow:
            found = uow.portals.by_slug(slug) if len(slug) <= 64 else None
            if found is None:
                raise NotFound(translate("no portal {slug}").format(slug=repr(slug)))
            portal: PortalRecord = uow.portals.set_require_mfa(found.id, required)
            uow.audit.record(
                staff_event(
                    principal,
                    "portal_mfa_changed",
                    Operation.PORTAL_REQUIRE_MFA,
                    portal=slug,
                    reason=why,
                    meta=meta,
                    require_mfa=required,
                ),
                now=now,
            )
        self._clients_changed()  # cached clients carry their portal's setting
        return portal

    # --- clients ------------------------------------------------------------------------

    def create_client(
        self,
        principal: StaffPrincipal,
        new: ClientInput,
        *,
        reason: str | None = None,
        meta: RequestMeta | None = None,
    ) -> IssuedClient:
        authorize(principal, Operation.CLIENT_CREATE)
        name = _name(new.name, N_("client name"))
        uris = check_uris(new.redirect_uris, N_("redirect URI"))
        if not uris:
            raise InvalidInput(translate("a client needs at least one redirect URI"))
        logout_uris = check_uris(new.post_logout_redirect_uris, N_("post-logout redirect URI"))
        why = check_reason(reason, required=False)
        backchannel = new.backchannel_logout_uri
        if backchannel is not None:
            try:
                backchannel = check_backchannel_uri(backchannel)
            except BackchannelUriError as exc:
                raise InvalidInput(
                    translate("back-channel logout URI {uri} {problem}").format(
                        uri=repr(backchannel), problem=exc
                    )
                ) from None
        elif new.backchannel_logout_session_required:
            raise InvalidInput(translate("session_required needs a back-channel logout URI"))
        scopes = _scopes(new)
        if new.public and new.client_credentials:
            raise InvalidInput(
                translate("a public client cannot use client_credentials (it has no secret)")
            )
        if new.subject_type not in ("public", "pairwise"):
            raise InvalidInput(translate("the subject type is public or pairwise"))
        if new.id_token_alg not in ("RS256", "ES256"):
            raise InvalidInput(translate("the ID token algorithm is RS256 or ES256"))
        if new.auth_method not in ("client_secret_basic", "client_secret_post"):
            raise InvalidInput(
                translate("the auth method is client_secret_basic or client_secret_post")
            )
        if new.subject_type == "pairwise":
            try:
                sector_identifier(uris)
            except SectorError as exc:
                raise InvalidInput(str(exc)) from None
        grants = ["authorization_code", "refresh_token"] + (
            ["client_credentials"] if new.client_credentials else []
        )
        secret = None if new.public else secrets.token_urlsafe(32)
        now = self._clock()
        with self._db.transaction() as uow:
            portal_id = None
            if new.portal:
                portal = uow.portals.by_slug(new.portal) if len(new.portal) <= 64 else None
                if portal is None:
                    raise NotFound(
                        translate("no portal with slug {slug}").format(slug=repr(new.portal))
                    )
                portal_id = portal.id
            record: ClientRecord = uow.clients.add(
                NewClient(
                    name=name,
                    redirect_uris=uris,
                    post_logout_redirect_uris=logout_uris,
                    scope=" ".join(scopes),
                    grant_types=grants,
                    token_endpoint_auth_method="none" if new.public else new.auth_method,
                    subject_type=new.subject_type,
                    id_token_signed_response_alg=new.id_token_alg,
                    first_party=new.first_party,
                    pkce_required=not new.pkce_optional,
                    require_mfa=new.require_mfa,
                    portal_id=portal_id,
                    backchannel_logout_uri=backchannel,
                    backchannel_logout_session_required=new.backchannel_logout_session_required,
                ),
                secret_hash=secret_hash(secret) if secret else None,
                now=now,
            )
            uow.audit.record(
                staff_event(
                    principal,
                    "client_created",
                    Operation.CLIENT_CREATE,
                    portal=new.portal,
                    reason=why,
                    meta=meta,
                    client=record.client_id,
                    public=new.public,
                ),
                now=now,
            )
        return IssuedClient(record, secret)

    def _change(
        self,
        principal: StaffPrincipal,
        operation: Operation,
        event: str,
        client_id: str,
        *,
        reason: str | None,
        meta: RequestMeta | None,
        facts: dict[str, Any],
        **changes: Any,
    ) -> ClientRecord:
        authorize(principal, operation)
        why = check_reason(reason, required=True)
        now = self._clock()
        with self._db.transaction() as uow:
            found = uow.clients.by_client_id(client_id) if len(client_id) <= 64 else None
            if found is None:
                raise NotFound(translate("no client {client_id}").format(client_id=repr(client_id)))
            if operation is Operation.CLIENT_ROTATE_SECRET and found.is_public:
                raise Conflict(translate("a public client has no secret to rotate"))
            record: ClientRecord = uow.clients.update(client_id, **changes)
            uow.audit.record(
                staff_event(
                    principal,
                    event,
                    operation,
                    portal=found.portal.slug if found.portal else None,
                    reason=why,
                    meta=meta,
                    client=client_id,
                    **facts,
                ),
                now=now,
            )
        self._clients_changed()
        return record

    def rotate_secret(
        self,
        principal: StaffPrincipal,
        client_id: str,
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> IssuedClient:
        """A new secret; the old one stops working at once (every worker within ~0.5 s)."""
        secret = secrets.token_urlsafe(32)
        record = self._change(
            principal,
            Operation.CLIENT_ROTATE_SECRET,
            "client_secret_rotated",
            client_id,
            reason=reason,
            meta=meta,
            facts={},
            client_secret_hash=secret_hash(secret),
        )
        return IssuedClient(record, secret)

    def set_redirect_uris(
        self,
        principal: StaffPrincipal,
        client_id: str,
        uris: Sequence[str],
        *,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> ClientRecord:
        """Replace the list; each URI is kept as the exact string (matching is exact)."""
        authorize(principal, Operation.CLIENT_EDIT_REDIRECT_URIS)
        kept = check_uris(uris, N_("redirect URI"))
        if not kept:
            raise InvalidInput(translate("a client needs at least one redirect URI"))
        return self._change(
            principal,
            Operation.CLIENT_EDIT_REDIRECT_URIS,
            "client_redirect_uris_changed",
            client_id,
            reason=reason,
            meta=meta,
            facts={"redirect_uris": kept},
            redirect_uris=kept,
        )

    def set_client_mfa(
        self,
        principal: StaffPrincipal,
        client_id: str,
        *,
        required: bool,
        reason: str | None,
        meta: RequestMeta | None = None,
    ) -> ClientRecord:
        return self._change(
            principal,
            Operation.CLIENT_REQUIRE_MFA,
            "client_mfa_changed",
            client_id,
            reason=reason,
            meta=meta,
            facts={"require_mfa": required},
            require_mfa=required,
        )
