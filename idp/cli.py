"""The ``idp`` command: run the provider and manage what it serves.

Every command that prints data takes ``--json`` so scripts can read it
(DESIGN.md, "Contract with the outside"). Settings come from ``IDP_*``
variables exactly as for the server, so a bad value stops here too.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, NoReturn

import click

from idp.cli_portal_terms import apply_terms, list_text, terms_options, terms_row
from idp.settings import Settings, SettingsError, load_settings

DEFAULT_SCOPE = "openid profile email phone address offline_access"


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        _fail(str(exc))


def _serving_settings(host: str, port: int) -> Settings:
    """Without IDP_ISSUER the issuer is the address being served (loopback use)."""
    import os

    if os.environ.get("IDP_ISSUER"):
        return _settings()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return _settings(issuer=f"http://{shown}:{port}")


def _record_issuer(settings: Settings) -> None:
    """Tell later commands where this provider answers (instance/issuer)."""
    from idp.instance import record_issuer

    try:
        record_issuer(settings.instance_dir, settings.issuer)
    except OSError as exc:
        _fail(f"cannot record the issuer in {settings.instance_dir}: {exc}")


def _link_settings() -> Settings:
    """Settings for a command whose emails or output carry links to the provider.

    The links must point where the provider really answers: IDP_ISSUER, or else the
    issuer that `idp serve` or `idp demo` recorded in the instance directory. Never
    the built-in default, which is right only for one port on one machine (issue 8,
    item 15).
    """
    import os

    from idp.instance import served_issuer
    from idp.settings import _issuer

    settings = _settings()
    if os.environ.get("IDP_ISSUER"):
        return settings
    recorded = served_issuer(settings.instance_dir)
    if recorded is None:
        _fail(
            "this command makes links to the provider, and its address is unknown: set "
            "IDP_ISSUER (e.g. https://id.example.org), or start the provider with `idp "
            f"serve` or `idp demo`, which record it in {settings.instance_dir}/issuer"
        )
    try:
        issuer = _issuer(f"the issuer recorded in {settings.instance_dir}/issuer", recorded)
    except SettingsError as exc:
        _fail(str(exc))
    return replace(settings, issuer=issuer)


def _now() -> datetime:
    return datetime.now(UTC)


def _emit(data: Any, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@contextmanager
def _db(settings: Settings) -> Iterator[Any]:
    """The database, checked to be reachable and migrated; disposed afterwards."""
    from idp.store.sql.database import Database, DatabaseUnavailable

    db = Database.from_url(settings.database_url, connect_timeout=settings.database_connect_timeout)
    announcer = _UserDataAnnouncer(settings)
    db.on_user_data_change = announcer
    try:
        try:
            db.check()
        except DatabaseUnavailable as exc:
            _fail(str(exc))
        yield db
    finally:
        announcer.close()
        db.dispose()


@contextmanager
def _services(settings: Settings) -> Iterator[Any]:
    """The provider's services, sharing the server's ephemeral store.

    With ``IDP_EPHEMERAL=memory`` that store is in the server's memory: commands get a
    store that refuses instead, so nothing is reported done that the server never saw.
    """
    from idp.app import build_ephemeral, build_services
    from idp.store.sql.candidates import MatchingSecretMismatchError
    from idp.store.unreachable import EphemeralUnreachableError, UnreachableEphemeralStore

    with _db(settings) as db:
        try:
            ephemeral = (
                UnreachableEphemeralStore()
                if settings.ephemeral_backend == "memory"
                else build_ephemeral(settings)
            )
        except ConnectionError as exc:
            _fail(str(exc))
        # Commands send what they queue themselves (send_due) before the process exits,
        # so no background sender races them.
        services = build_services(settings, db=db, ephemeral=ephemeral, background_delivery=False)
        try:
            yield services
        except (EphemeralUnreachableError, MatchingSecretMismatchError) as exc:
            _fail(str(exc))
        finally:
            services.close()


@click.group(help="Patient-portal OpenID Connect provider.")
def main() -> None:
    pass


# --- serve -----------------------------------------------------------------------------------


def prepare_embedded(settings: Settings) -> list[str]:
    """Make an embedded install ready to serve: SQLite schema and signing keys.

    Only SQLite is migrated automatically; a PostgreSQL schema changes under
    ``idp db upgrade`` run deliberately by an operator.
    """
    from idp.oidc.keys import generate_keys
    from idp.store.sql.database import Database, upgrade

    notes = []
    if settings.database_url.startswith("sqlite"):
        db = Database.from_url(
            settings.database_url, connect_timeout=settings.database_connect_timeout
        )
        fresh = not db.has_schema()
        db.dispose()
        upgrade(settings.database_url)
        if fresh:
            notes.append(f"created the SQLite database at {settings.database_url}")
    created = generate_keys(settings.keys_dir, now=int(time.time()))
    if created:
        notes.append(f"generated signing keys in {settings.keys_dir}")
    return notes


def _run_gunicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    from idp.access_log import GUNICORN_LOGGER_CLASS
    from idp.app import create_app
    from idp.serving import GUNICORN_THREADS, GUNICORN_WORKER_CLASS

    if settings.ephemeral_backend == "memory" and workers > 1:
        # The in-process store lives in one process; more workers would each keep
        # their own sessions and codes (the SQLite store and Redis are shared).
        click.echo("note: with IDP_EPHEMERAL=memory the provider runs as one process", err=True)
        workers = 1
    from idp.metrics import multiprocess_dir, reset_multiprocess_dir
    from idp.store.sql.candidates import MatchingSecretMismatchError

    metrics_dir = multiprocess_dir()
    if metrics_dir is not None:
        # Workers' metric files from a previous run would count forever (README, Metrics).
        reset_multiprocess_dir(metrics_dir)
    try:
        application = create_app(settings)
    except MatchingSecretMismatchError as exc:
        _fail(str(exc))

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", GUNICORN_WORKER_CLASS)
            self.cfg.set("threads", GUNICORN_THREADS)
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("accesslog", "-")
            # Tokens, codes and ID tokens in URLs never reach the access log.
            self.cfg.set("logger_class", GUNICORN_LOGGER_CLASS)
            self.cfg.set("timeout", 60)

        def load(self) -> Any:
            return application

    _Server().run()


@main.command(help="Run the provider (gunicorn). An empty SQLite database is prepared first.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (one only with IDP_EPHEMERAL=memory).",
)
def serve(host: str, port: int, workers: int) -> None:
    settings = _serving_settings(host, port)
    for note in prepare_embedded(settings):
        click.echo(note)
    _record_issuer(settings)
    click.echo(f"Serving {settings.issuer} (bound to http://{host}:{port})")
    _run_gunicorn(settings, host, port, workers)


# --- db --------------------------------------------------------------------------------------


@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration (SQLite or PostgreSQL).")
def db_upgrade() -> None:
    from idp.store.sql.database import upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except Exception as exc:  # report the cause in one line, not a traceback
        _fail(f"migration failed: {exc.__class__.__name__}: {exc}")
    click.echo("database is up to date")


# --- keys ------------------------------------------------------------------------------------


def _key_rows(settings: Settings) -> list[dict[str, Any]]:
    from idp.app import key_publish_window
    from idp.oidc.keys import load_keys

    now = int(time.time())
    return [
        {
            "kid": k.kid,
            "alg": k.alg,
            "status": str(k.status(now, publish_for=key_publish_window(settings))),
            "created_at": datetime.fromtimestamp(k.created_at, UTC).isoformat(),
            "retired_at": datetime.fromtimestamp(k.retired_at, UTC).isoformat()
            if k.retired_at
            else None,
        }
        for k in load_keys(settings.keys_dir)
    ]


def _print_keys(settings: Settings, as_json: bool) -> None:
    rows = _key_rows(settings)
    text = (
        "\n".join(f"{r['kid']}  {r['alg']}  {r['status']}  created {r['created_at']}" for r in rows)
        or "no keys"
    )
    _emit(rows, as_json, text)


@main.group(help="Signing keys (RS256 and ES256).")
def keys() -> None:
    pass


@keys.command("generate", help="Create an active key for each algorithm that has none.")
@click.option("--json", "as_json", is_flag=True)
def keys_generate(as_json: bool) -> None:
    from idp.oidc.keys import KeyStoreError, generate_keys

    settings = _settings()
    try:
        generate_keys(settings.keys_dir, now=int(time.time()))
    except KeyStoreError as exc:
        _fail(str(exc))
    _print_keys(settings, as_json)


@keys.command("rotate", help="New active keys; old ones stay published until their tokens expire.")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(as_json: bool) -> None:
    from idp.app import key_publish_window
    from idp.oidc.keys import KeyStoreError, rotate_keys

    settings = _settings()
    try:
        rotate_keys(
            settings.keys_dir, now=int(time.time()), publish_for=key_publish_window(settings)
        )
    except KeyStoreError as exc:
        _fail(str(exc))
    _print_keys(settings, as_json)


@keys.command("list", help="Every key with its status (active, retiring, expired).")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    from idp.oidc.keys import KeyStoreError

    settings = _settings()
    try:
        _print_keys(settings, as_json)
    except KeyStoreError as exc:
        _fail(str(exc))


# --- portals ---------------------------------------------------------------------------------

SLUG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def _slugify(name: str) -> str:
    slug = "".join(c if c in SLUG_CHARS else "-" for c in name.lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part)[:64]


@main.group(help="Practices (portals) that own clients.")
def portals() -> None:
    pass


@portals.command("add", help="Register a practice.")
@click.option("--name", required=True)
@click.option("--slug", help="Short unique id (default: from the name).")
@click.option(
    "--hide-from-account-emails",
    is_flag=True,
    help='Never name this practice in "you already have an account" emails '
    "(being its patient is itself sensitive).",
)
@click.option(
    "--require-mfa",
    is_flag=True,
    help="Every client of this practice needs a second factor at sign-in.",
)
@terms_options
@click.option("--json", "as_json", is_flag=True)
def portals_add(
    name: str,
    slug: str | None,
    hide_from_account_emails: bool,
    require_mfa: bool,
    as_json: bool,
    **terms: Any,
) -> None:
    from sqlalchemy import update

    from idp.store.accounts import DuplicateError
    from idp.store.sql import models

    name = name.strip()
    if not name or len(name) > 200:
        _fail("--name must be 1-200 characters")
    slug = slug or _slugify(name)
    if not slug or set(slug) - SLUG_CHARS or len(slug) > 64:
        _fail("--slug may hold only a-z, 0-9 and '-' (at most 64)")
    try:
        with _db(_settings()) as database, database.transaction() as uow:
            portal = uow.portals.add(slug=slug, name=name, now=_now())
            if hide_from_account_emails or require_mfa:
                # PortalRepository.add takes no such options yet; same transaction.
                uow.session.execute(
                    update(models.Portal)
                    .where(models.Portal.id == portal.id)
                    .values(
                        listed_in_account_emails=not hide_from_account_emails,
                        require_mfa=require_mfa,
                    )
                )
            portal = apply_terms(uow, portal, terms, actor="staff:cli")
    except DuplicateError:
        _fail(f"a portal with slug {slug!r} already exists")
    data: dict[str, Any] = {"slug": portal.slug, "name": portal.name, **terms_row(portal)}
    if require_mfa:
        data["require_mfa"] = True
    if hide_from_account_emails:
        data["listed_in_account_emails"] = False
    _emit(data, as_json, f"portal {portal.slug} added")


MAX_PATIENT_ID = 64


@portals.command(
    "link",
    help="Link an account to a practice's patient record (its MRN) directly, as staff "
    "who checked the patient's identity. The practice's clients then receive patient_id.",
)
@click.argument("slug")
@click.option("--username", required=True, help="The account's user ID.")
@click.option("--patient-id", "patient_id", required=True, help="The practice's MRN.")
@click.option("--json", "as_json", is_flag=True)
def portals_link(slug: str, username: str, patient_id: str, as_json: bool) -> None:
    from idp.records import AuditEntry
    from idp.store.links import DuplicateLinkError

    patient_id = patient_id.strip()
    if (
        not patient_id
        or len(patient_id) > MAX_PATIENT_ID
        or any(c.isspace() or not c.isprintable() for c in patient_id)
    ):
        _fail(f"--patient-id must be 1-{MAX_PATIENT_ID} printable characters without spaces")
    try:
        with _db(_settings()) as database, database.transaction() as uow:
            portal = uow.portals.by_slug(slug)
            if portal is None:
                _fail(f"no portal with slug {slug!r}")
            account = uow.accounts.by_username(username)
            if account is None:
                _fail(f"no account {username!r}")
            if not account.is_active:
                _fail(f"account {account.username} is {account.status}; it cannot be linked")
            now = _now()
            uow.portal_links.link(account.id, portal.id, patient_id, now)
            uow.audit.record(
                AuditEntry(
                    type="portal_linked",
                    outcome="success",
                    actor="staff:cli",
                    subject=account.subject,
                    # The MRN stays out of the trail: the link row holds it.
                    details={"portal": portal.slug, "via": "cli"},
                ),
                now=now,
            )
    except DuplicateLinkError as exc:
        if exc.field == "patient_id":
            _fail(f"patient ID {patient_id!r} is linked to another account at {slug}")
        _fail(f"account {username!r} is already linked to {slug}")
    _emit(
        {"portal": portal.slug, "username": account.username, "status": "active"},
        as_json,
        f"account {account.username} linked to {portal.slug}",
    )


@portals.command("list", help="Every practice.")
@click.option("--json", "as_json", is_flag=True)
def portals_list(as_json: bool) -> None:
    with _db(_settings()) as database, database.transaction() as uow:
        portals_ = uow.portals.list()
    rows = [{"slug": p.slug, "name": p.name, **terms_row(p)} for p in portals_]
    _emit(rows, as_json, "\n".join(map(list_text, portals_)) or "no portals")


# --- clients ---------------------------------------------------------------------------------


def validate_redirect_uri(uri: str, *, option: str) -> str:
    """Absolute http(s) URIs without fragments (RFC 6749 §3.1.2); http only on loopback
    (``idp.policies.redirect_uris``, the console's and the API's rule too)."""
    from idp.policies.redirect_uris import check_redirect_uri, reason_text

    reason = check_redirect_uri(uri)
    if reason is not None:
        _fail(f"{option} {uri!r} {reason_text(reason)}")
    return uri


@main.group(help="OIDC clients (relying parties).")
def clients() -> None:
    pass


@clients.command("add", help="Register a client; prints client_id (and client_secret, once).")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--scope", default=DEFAULT_SCOPE, show_default=True)
@click.option("--public", is_flag=True, help="No secret (browser or mobile app); PKCE only.")
@click.option("--first-party", is_flag=True, help="Operated by us: no consent page.")
@click.option("--portal", "portal_slug", help="Slug of the practice that owns it.")
@click.option(
    "--subject-type", type=click.Choice(["public", "pairwise"]), default="public", show_default=True
)
@click.option(
    "--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True
)
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post"]),
    default="client_secret_basic",
    show_default=True,
    help="Token endpoint authentication for confidential clients.",
)
@click.option("--client-credentials", is_flag=True, help="Also allow the client_credentials grant.")
@click.option(
    "--pkce-optional-for-certification",
    "pkce_optional",
    is_flag=True,
    help="Only for an OpenID certification client: PKCE not required.",
)
@click.option(
    "--require-mfa",
    is_flag=True,
    help="Sign-ins for this client need a second factor (authenticator app, passkey, "
    "recovery code); accounts without one are refused.",
)
@click.option(
    "--backchannel-logout-uri",
    "backchannel_uri",
    help="Where the portal receives logout tokens (OpenID Connect Back-Channel Logout 1.0).",
)
@click.option(
    "--backchannel-logout-session-required",
    "backchannel_sid",
    is_flag=True,
    help="The portal needs the session id (sid) in logout and ID tokens.",
)
@click.option("--json", "as_json", is_flag=True)
def clients_add(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    scope: str,
    public: bool,
    first_party: bool,
    portal_slug: str | None,
    subject_type: str,
    id_token_alg: str,
    auth_method: str,
    client_credentials: bool,
    pkce_optional: bool,
    require_mfa: bool,
    backchannel_uri: str | None,
    backchannel_sid: bool,
    as_json: bool,
) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import StaffError
    from idp.flows.staff.registry import ClientInput

    # The same checks as the console and the admin API, with the options' names.
    name = name.strip()
    if not name or len(name) > 200:
        _fail("--name must be 1-200 characters")
    for uri in redirect_uris:
        validate_redirect_uri(uri, option="--redirect-uri")
    for uri in post_logout_uris:
        validate_redirect_uri(uri, option="--post-logout-redirect-uri")
    if backchannel_uri is not None:
        backchannel_uri = validate_backchannel_uri(backchannel_uri)
    new = ClientInput(
        name=name,
        redirect_uris=redirect_uris,
        portal=portal_slug,
        post_logout_redirect_uris=post_logout_uris,
        scope=scope,
        public=public,
        first_party=first_party,
        require_mfa=require_mfa,
        client_credentials=client_credentials,
        subject_type=subject_type,
        id_token_alg=id_token_alg,
        auth_method=auth_method,
        pkce_optional=pkce_optional,
        backchannel_logout_uri=backchannel_uri,
        backchannel_logout_session_required=backchannel_sid,
    )
    with _services(_settings()) as services:
        try:
            issued = services.staff.registry.create_client(cli_principal(services, None), new)
        except StaffError as exc:
            refused_or_fail(services, exc)
    record, secret = issued.client, issued.secret
    data = {"client_id": record.client_id}
    if secret:
        data["client_secret"] = secret
    text = f"client_id: {record.client_id}" + (f"\nclient_secret: {secret}" if secret else "")
    _emit(data, as_json, text)


@clients.command("list", help="Registered clients (never their secrets).")
@click.option("--json", "as_json", is_flag=True)
def clients_list(as_json: bool) -> None:
    with _db(_settings()) as database, database.transaction() as uow:
        rows = [
            {
                "client_id": c.client_id,
                "name": c.name,
                "portal": c.portal.slug if c.portal else None,
                "public": c.is_public,
                "first_party": c.first_party,
                "redirect_uris": list(c.redirect_uris),
                "scope": c.scope,
                "subject_type": c.subject_type,
                "pkce_required": c.pkce_required,
                "require_mfa": c.require_mfa,
                "backchannel_logout_uri": c.backchannel_logout_uri,
            }
            for c in uow.clients.list()
        ]
    _emit(
        rows,
        as_json,
        "\n".join(f"{r['client_id']}  {r['name']}  {r['portal'] or '-'}" for r in rows)
        or "no clients",
    )


def validate_backchannel_uri(uri: str) -> str:
    """Back-Channel Logout §2.2: absolute, no fragment; https except on loopback."""
    from idp.oidc.backchannel import BackchannelUriError, check_backchannel_uri

    try:
        return check_backchannel_uri(uri)
    except BackchannelUriError as exc:
        _fail(f"--backchannel-logout-uri {uri!r} {exc}")


@clients.command(
    "backchannel-logout",
    help="Set or remove a client's back-channel logout URI: when a session that signed in "
    "to the client ends, the provider POSTs it a signed logout token.",
)
@click.argument("client_id")
@click.option("--uri", help="The portal's logout endpoint (https; http only on loopback).")
@click.option("--session-required", is_flag=True, help="The portal needs sid in the tokens.")
@click.option("--off", is_flag=True, help="Stop notifying this client.")
def clients_backchannel_logout(
    client_id: str, uri: str | None, session_required: bool, off: bool
) -> None:
    from idp.records import AuditEntry

    if off == (uri is not None):
        _fail("give exactly one of --uri or --off")
    if uri is not None:
        uri = validate_backchannel_uri(uri)
    with _db(_settings()) as database, database.transaction() as uow:
        record = uow.clients.set_backchannel_logout(
            client_id, uri=uri, session_required=session_required
        )
        if record is None:
            _fail(f"no client {client_id!r}")
        uow.audit.record(
            AuditEntry(
                type="client_backchannel_logout_set",
                outcome="success",
                actor="staff:cli",
                client_id=client_id,
                details={
                    "uri": uri,
                    "session_required": record.backchannel_logout_session_required,
                },
            ),
            now=_now(),
        )
    _announce_client_change(_settings())
    click.echo(f"{client_id}: back-channel logout {'to ' + uri if uri else 'off'}")


class _UserDataAnnouncer:
    """After a commit that changed accounts, persons or practice links: running servers'
    UserInfo caches drop them at once (idp/store/user_data.py). The store is opened at
    the first such commit and kept for the command's next ones. A server on the
    in-process store caches none. Never fails the command: the change is saved."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: Any = None

    def __call__(self) -> None:
        from idp.app import build_ephemeral
        from idp.store.user_data import Announcer

        settings = self._settings
        if settings.ephemeral_backend == "memory" and not settings.redis_url:
            return
        if self._store is None:
            try:
                self._store = build_ephemeral(settings)
            except ConnectionError as exc:
                click.echo(f"warning: running servers were not told of the change: {exc}", err=True)
                return
        if not Announcer(self._store)():
            click.echo(
                "warning: running servers were not told of the change; UserInfo may show "
                "the old data for up to a minute",
                err=True,
            )

    def close(self) -> None:
        close = getattr(self._store, "close", None)
        if close is not None:
            close()


def _announce_client_change(settings: Settings) -> None:
    """After a committed client change: every provider process drops its cached
    clients within a second (idp/oidc/client_directory.py). A server on the
    in-process store caches none, and a command could not reach it anyway."""
    from idp.app import build_ephemeral
    from idp.oidc.client_directory import announce_client_change

    if settings.ephemeral_backend == "memory" and not settings.redis_url:
        return
    try:
        store = build_ephemeral(settings)
    except ConnectionError as exc:
        _fail(f"the change is saved, but running servers could not be told: {exc}")
    try:
        announce_client_change(store)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


@clients.command("remove", help="Retire a client; its refresh tokens end with it.")
@click.argument("client_id")
def clients_remove(client_id: str) -> None:
    from idp.records import AuditEntry

    settings = _settings()
    with _db(settings) as database, database.transaction() as uow:
        if not uow.clients.remove(client_id, now=_now()):
            _fail(f"no client {client_id!r}")
        uow.audit.record(
            AuditEntry(
                type="client_removed", outcome="success", actor="staff:cli", client_id=client_id
            ),
            now=_now(),
        )
    _announce_client_change(settings)
    click.echo(f"client {client_id} removed")


# --- users -----------------------------------------------------------------------------------


@main.group(help="Patient accounts.")
def users() -> None:
    pass


def _parse_dob(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        dob = date.fromisoformat(value)
    except ValueError:
        _fail("--dob must be a date as YYYY-MM-DD")
    if dob > date.today() or dob.year < 1900:
        _fail("--dob must be a real date of birth")
    return dob


@users.command(
    "add",
    help="Create an account. Office-made accounts use --send-temporary-password with "
    "--phone: the patient gets the user ID by email and a temporary password by text "
    "message (never both in one message), and must choose a new password (and security "
    "questions) at the first sign-in.",
)
@click.option("--username", required=True)
@click.option("--password", help="Set this password (no change required at first sign-in).")
@click.option(
    "--send-temporary-password",
    "send_temporary",
    is_flag=True,
    help="Generate a temporary password and text it to --phone; the user ID goes by email.",
)
@click.option("--email", required=True)
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--dob")
@click.option("--zip", "zip_code")
@click.option("--gender")
@click.option("--phone")
@click.option("--json", "as_json", is_flag=True)
def users_add(
    username: str,
    password: str | None,
    send_temporary: bool,
    email: str,
    first_name: str,
    last_name: str,
    dob: str | None,
    zip_code: str | None,
    gender: str | None,
    phone: str | None,
    as_json: bool,
) -> None:
    from idp.records import AuditEntry
    from idp.store.accounts import DuplicateError, NewPerson

    username = username.strip()
    if not 3 <= len(username) <= 64 or any(c.isspace() or ord(c) < 32 for c in username):
        _fail("--username must be 3-64 characters without spaces")
    if (password is None) == (not send_temporary):
        _fail("give exactly one of --password and --send-temporary-password")
    if send_temporary:
        password = temporary_password()
    assert password is not None
    if not 1 <= len(password) <= 1024:
        _fail("--password must be 1-1024 characters")
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        _fail("--email must be an email address")
    settings = _link_settings() if send_temporary else _settings()
    if send_temporary:
        phone = _office_account_phone(settings, phone)
    person = (
        NewPerson(
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            dob=_parse_dob(dob),
            zip=zip_code,
            gender=gender,
            phone=phone,
            email=email,
        )
        if (first_name or last_name)
        else None
    )
    try:
        with _services(settings) as services:
            with services.db.transaction() as uow:
                account = uow.accounts.add(
                    username=username,
                    password_hash=services.hashing.hash(password),
                    email=email,
                    email_verified=not send_temporary,
                    phone=phone,
                    person=person,
                    must_change_password=send_temporary,
                    now=_now(),
                )
                if person is not None and account.person is not None:
                    # Identity matching finds this patient at sign-up (issue 5).
                    from idp.store.candidates import index_person

                    index_person(
                        uow,
                        account.person.id,
                        replace(person, email=email, phone=phone),
                        services.settings.secret_key,
                        fresh=True,
                    )
                uow.audit.record(
                    AuditEntry(
                        type="account_created",
                        outcome="success",
                        actor="staff:cli",
                        subject=account.subject,
                        details={"temporary_password": send_temporary},
                    ),
                    now=_now(),
                )
                if send_temporary:
                    assert phone is not None
                    _send_office_account(services, uow, account.username, email, phone, password)
            if send_temporary:
                # This process ends now: send here rather than wait for a worker.
                report = services.dispatcher.send_due()
                if report.sent < 2:
                    click.echo(
                        "warning: the account exists, but not every message went out now "
                        "(see the outbox: failed ones are not retried, others are)",
                        err=True,
                    )
    except DuplicateError:
        _fail("that user ID is taken")
    _emit(
        {"username": account.username, "subject": account.subject},
        as_json,
        f"account {account.username} created (sub {account.subject})",
    )


def _office_account_phone(settings: Settings, phone: str | None) -> str:
    """The mobile number the temporary password is texted to, checked before anything.

    The user ID and the temporary password never travel in one message (issue 8,
    item 12): either one alone opens nothing, and an intercepted or forwarded email
    no longer hands over the account. A text rather than an activation link, because
    a link in the email would again be everything needed to take the account.
    """
    from idp.notify import InvalidPhoneNumber, normalize_phone

    if not phone:
        _fail("--send-temporary-password texts the temporary password: give --phone")
    try:
        number = normalize_phone(phone, region=settings.sms.phone_region)
    except InvalidPhoneNumber:
        _fail("--phone must be a mobile number, e.g. +1 617 555 0123")
    if not (settings.sms.webhook_url or settings.is_development):
        _fail(
            "--send-temporary-password needs text messages: set IDP_SMS_WEBHOOK_URL and "
            "IDP_SMS_WEBHOOK_SECRET, or use --password and give it to the patient in person"
        )
    return number


def _send_office_account(
    services: Any, uow: Any, username: str, email: str, phone: str, password: str
) -> None:
    """Queue the user ID by email (the FAQ's "Portal login information"), the password by text."""
    days = services.settings.accounts.temporary_password_ttl // 86400
    services.notifier.email(
        uow,
        to=email,
        template="office_account",
        context={
            "username": username,
            "phone_ending": phone[-4:],
            "login_url": f"{services.settings.issuer}/login",
            "valid_days": days,
        },
        now=_now(),
    )
    services.notifier.sms(
        uow,
        to=phone,
        template="office_account_password",
        context={"temporary_password": password, "valid_days": days},
        now=_now(),
    )


def temporary_password() -> str:
    """Four groups from an alphabet without look-alikes (0/O, 1/l/I): ~80 bits."""
    alphabet = "23456789abcdefghjkmnpqrstuvwxyz"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


@users.command(
    "unlock",
    help="End every lock of a user ID (unknown browsers, its devices, the hard cap). "
    "--staff and --reason go into the audit event; the console and the admin API ask "
    "for the reason, this command keeps working without one for existing scripts.",
)
@click.argument("username")
@click.option("--staff", "staff_name", help="Who is unlocking (audited; default: cli).")
@click.option("--reason", help="Why, e.g. the support ticket (audited).")
def users_unlock(username: str, staff_name: str | None, reason: str | None) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import StaffError

    with _services(_settings()) as services:
        try:
            account = services.staff.support.unlock(
                cli_principal(services, staff_name),
                username,
                reason=reason,
                reason_required=False,
            )
        except StaffError as exc:
            refused_or_fail(services, exc)
    click.echo(f"account {account.username} unlocked")


@users.command("rename", help="Change a user ID (a staff action, audited with the reason).")
@click.argument("username")
@click.argument("new_username")
@click.option("--staff", required=True, help="Who is making the change.")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
def users_rename(username: str, new_username: str, staff: str, reason: str) -> None:
    from idp.records import AuditEntry
    from idp.store.accounts import DuplicateError

    new_username = new_username.strip()
    if not 3 <= len(new_username) <= 64 or any(c.isspace() or ord(c) < 32 for c in new_username):
        _fail("NEW_USERNAME must be 3-64 characters without spaces")
    staff, reason = staff.strip(), reason.strip()
    if not staff or not reason or len(staff) > 64 or len(reason) > 500:
        _fail("--staff and --reason are required (at most 64 and 500 characters)")
    try:
        with _db(_settings()) as database, database.transaction() as uow:
            account = uow.accounts.by_username(username)
            if account is None:
                _fail(f"no account {username!r}")
            uow.accounts.rename(account.id, new_username, now=_now())
            uow.audit.record(
                AuditEntry(
                    type="username_changed",
                    outcome="success",
                    actor=f"staff:{staff}",
                    subject=account.subject,
                    details={"reason": reason},
                ),
                now=_now(),
            )
    except DuplicateError:
        _fail("that user ID is taken")
    click.echo(f"user ID {username} is now {new_username}")


def _register_support_commands() -> None:
    from idp.cli_staff import register as register_staff
    from idp.cli_support import register

    register(users)
    register_staff(main)


_register_support_commands()


# --- persons ---------------------------------------------------------------------------------


@main.group(help="Persons (demographics) and their identity-matching keys.")
def persons() -> None:
    pass


@persons.command(
    "reindex",
    help="Rebuild every person's blocking keys (HMACs under IDP_SECRET_KEY): run after "
    "changing the secret, importing persons, or to clear stale keys.",
)
@click.option("--json", "as_json", is_flag=True)
def persons_reindex(as_json: bool) -> None:
    import os

    settings = _settings()
    if not os.environ.get("IDP_SECRET_KEY") and settings.environment == "test":
        click.echo(
            "warning: IDP_SECRET_KEY is not set: these keys are made under a throwaway "
            "secret and will not match the server's",
            err=True,
        )
    started = time.monotonic()
    with _db(settings) as database, database.transaction() as uow:
        indexed, keys = uow.candidates.reindex_all(secret=settings.secret_key)
    seconds = round(time.monotonic() - started, 2)
    _emit(
        {"persons": indexed, "keys": keys, "seconds": seconds},
        as_json,
        f"indexed {indexed} persons ({keys} keys) in {seconds} s",
    )


# --- enrollments -----------------------------------------------------------------------------


@main.group(help="Sign-ups waiting for staff review (a close match without phone proof).")
def enrollments() -> None:
    pass


def _enrollment_line(row: dict[str, Any]) -> str:
    who = row.get("demographics") or {}
    candidate = row.get("candidate") or {}
    return (
        f"#{row['id']}  {row['status']:<9} {row['created_at'][:16]}  {row['username']}  "
        f"{who.get('first_name', '')} {who.get('last_name', '')} {who.get('dob', '')} "
        f"{who.get('zip', '')} <{row['email']}>  resembles {candidate.get('username', '-')}"
        f"  [{','.join(row.get('match_reasons', []))}]"
    )


@enrollments.command("list", help="Enrollments, oldest first (default: those pending).")
@click.option(
    "--status",
    type=click.Choice(["pending", "approved", "rejected", "withdrawn", "all"]),
    default="pending",
    show_default=True,
)
@click.option("-n", "limit", default=100, show_default=True, type=click.IntRange(1, 500))
@click.option("--staff", help="The staff member listing (a practice sees its portals' only).")
@click.option("--json", "as_json", is_flag=True)
def enrollments_list(status: str, limit: int, staff: str | None, as_json: bool) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import StaffError

    with _services(_settings()) as services:
        who = cli_principal(services, staff)
        try:
            found = services.staff.enrollments.list(
                who, status=None if status == "all" else status, limit=min(limit, 500)
            )
        except StaffError as exc:
            refused_or_fail(services, exc)
    rows = [row.view for row in found]
    _emit(rows, as_json, "\n".join(_enrollment_line(r) for r in rows) or "no enrollments")


def _decide(action: str, enrollment_id: int, **kw: Any) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import StaffError

    as_json = kw.pop("as_json")
    staff = kw.pop("staff")
    with _services(_link_settings()) as services:
        who = cli_principal(services, staff)
        try:
            done = getattr(services.staff.enrollments, action)(
                who, enrollment_id, staff_name=staff, **kw
            )
        except StaffError as exc:
            refused_or_fail(services, exc)
        # This process ends now: send here rather than wait for a worker.
        services.dispatcher.send_due()
    row = done.view
    account = row.get("account") or {}
    text = f"enrollment #{enrollment_id} {row['status']}" + (
        f": account {account['username']} created, verification link sent to {row['email']}"
        if account
        else f": {row['email']} was told"
    )
    _emit(row, as_json, text)


@enrollments.command(
    "approve",
    help="Create the account from the enrollment (pending until the applicant opens the "
    "verification link mailed to them).",
)
@click.argument("enrollment_id", type=int)
@click.option("--staff", required=True, help="Who decided (audited).")
@click.option("--reason", help="Why, e.g. how identity was confirmed (audited).")
@click.option("--username", help="Another user ID, when the one asked for was taken meanwhile.")
@click.option("--json", "as_json", is_flag=True)
def enrollments_approve(
    enrollment_id: int, staff: str, reason: str | None, username: str | None, as_json: bool
) -> None:
    _decide(
        "approve", enrollment_id, staff=staff, reason=reason, username=username, as_json=as_json
    )


@enrollments.command("reject", help="Refuse the enrollment; the applicant is told politely.")
@click.argument("enrollment_id", type=int)
@click.option("--staff", required=True, help="Who decided (audited).")
@click.option("--reason", required=True, help="Why (audited; never sent to the applicant).")
@click.option("--json", "as_json", is_flag=True)
def enrollments_reject(enrollment_id: int, staff: str, reason: str, as_json: bool) -> None:
    _decide("reject", enrollment_id, staff=staff, reason=reason, as_json=as_json)


# --- audit -----------------------------------------------------------------------------------


@main.group(help="The audit trail.")
def audit() -> None:
    pass


@audit.command("tail", help="Recent events, oldest first, one per line.")
@click.option("-n", "limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_tail(limit: int, as_json: bool) -> None:
    with _db(_settings()) as database, database.transaction() as uow:
        events = uow.audit.tail(limit)
    for e in events:
        row = {
            "at": e.at.isoformat(),
            "type": e.type,
            "outcome": e.outcome,
            "actor": e.actor,
            "subject": e.subject,
            "client_id": e.client_id,
            "ip": e.ip,
            "details": e.details,
        }
        if as_json:
            click.echo(json.dumps(row, default=str))
        else:
            click.echo(
                f"{row['at']}  {e.type:<18} {e.outcome:<8} actor={e.actor} "
                f"client={e.client_id or '-'} ip={e.ip or '-'}"
            )


@audit.command(
    "verify",
    help="Recompute every hash chain of the audit trail; exit 1 naming the first broken event "
    "(altered, deleted or inserted). Needs the IDP_SECRET_KEY that signed retention checkpoints.",
)
@click.option(
    "--from",
    "since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only segments of this UTC day (YYYY-MM-DD) and later.",
)
@click.option("--json", "as_json", is_flag=True)
def audit_verify(since: datetime | None, as_json: bool) -> None:
    from idp.audit.chain import checkpoint_key

    settings = _settings()
    with _db(settings) as database, database.transaction() as uow:
        found = uow.audit.verify(
            key=checkpoint_key(settings.secret_key), since=since.date() if since else None
        )
    if found is None:
        _emit({"ok": True, "break": None}, as_json, "audit trail intact: every chain verifies")
        return
    b = found.as_dict()
    _emit(
        {"ok": False, "break": b},
        as_json,
        f"audit trail BROKEN: {b['kind']} event id={b['event_id']} at={b['at']} "
        f"segment={b['segment']} seq={b['seq']}: {b['detail']}",
    )
    sys.exit(1)


def _audit_filters(fn: Any) -> Any:
    """The search filters, shared by ``audit search`` and ``audit export``."""
    options = [
        click.option("--from", "since", help="From this UTC day (YYYY-MM-DD) or ISO time."),
        click.option("--to", "until", help="Up to this UTC day, inclusive, or before an ISO time."),
        click.option("--user", help="User ID, account subject, or name (last, or first last)."),
        click.option("--type", "types", multiple=True, help="Event type (repeatable)."),
        click.option("--outcome", help="success, failure, denied, error or pending."),
        click.option("--client", help="Client ID."),
        click.option("--portal", help="Portal slug: events of any of its clients."),
        click.option("--ip", help="IP address or CIDR network, e.g. 203.0.113.0/24."),
        click.option("--actor", help="Who acted: staff name, staff:NAME, subject or client ID."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _parse_audit_filter(raw: dict[str, Any]) -> Any:
    """Bad input stops here, exit 2, before anything is read or written."""
    from idp.audit.search import FilterError, parse_filter

    try:
        return parse_filter(**raw)
    except FilterError as exc:
        raise click.UsageError(str(exc)) from None


def _cli_actor() -> str:
    """Who ran the command, as the audit records it until staff sign in (issue 11)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _check_portal(uow: Any, slug: str | None) -> None:
    if slug is not None and uow.portals.by_slug(slug) is None:
        raise click.UsageError(f"portal: no portal with slug {slug!r}")


_STAFF_OPTION = click.option(
    "--staff",
    "staff_name",
    help="Act as this staff account (its role and portals apply); default: the shell user.",
)


@audit.command("search", help="Find events, newest first; page on with --after.")
@_audit_filters
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--after", help="The 'next' cursor printed by the previous page.")
@_STAFF_OPTION
@click.option("--json", "as_json", is_flag=True)
def audit_search(
    limit: int, after: str | None, staff_name: str | None, as_json: bool, **raw: Any
) -> None:
    from idp.audit.search import Cursor, FilterError
    from idp.cli_staff import cli_principal, note_refusal
    from idp.flows.staff.errors import StaffError

    filters = _parse_audit_filter(raw)
    try:
        cursor = Cursor.decode(after) if after else None
    except FilterError as exc:
        raise click.UsageError(str(exc)) from None
    with _services(_settings()) as services:
        principal = cli_principal(services, staff_name, default_actor=_cli_actor())
        with services.db.transaction() as uow:
            _check_portal(uow, filters.portal)
        try:
            # Reading the trail is itself on the trail, in the same transaction.
            page = services.staff.audit.search(principal, filters, limit=limit, after=cursor)
        except StaffError as exc:
            note_refusal(services, exc)
            raise click.UsageError(exc.message) from None
    next_cursor = page.next.encode() if page.next else None
    if as_json:
        click.echo(
            json.dumps({"events": [r.as_dict() for r in page.rows], "next": next_cursor}, indent=2)
        )
        return
    for r in page.rows:
        who = f"{r.user_id} ({r.name})" if r.user_id and r.name else (r.user_id or "-")
        click.echo(
            f"{r.at.isoformat()}  {r.type:<18} {r.outcome:<8} user={who} actor={r.actor} "
            f"client={r.client_id or '-'} ip={r.ip or '-'}"
        )
    if next_cursor:
        click.echo(f"more: --after {next_cursor}")


@audit.command("export", help="Write every matching event, newest first, streamed.")
@_audit_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), required=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout)."
)
@_STAFF_OPTION
def audit_export(fmt: str, output: str | None, staff_name: str | None, **raw: Any) -> None:
    from idp.audit.export import write_export
    from idp.cli_staff import cli_principal, note_refusal
    from idp.flows.staff.errors import StaffError
    from idp.policies.staff_roles import Operation

    filters = _parse_audit_filter(raw)
    with _services(_settings()) as services:
        principal = cli_principal(services, staff_name, default_actor=_cli_actor())
        try:
            services.staff.audit.scope(principal, Operation.AUDIT_EXPORT, filters)
        except StaffError as exc:
            note_refusal(services, exc)
            raise click.UsageError(exc.message) from None
        with services.db.transaction() as uow:
            _check_portal(uow, filters.portal)
        try:
            out = open(output, "w", newline="", encoding="utf-8") if output else None  # noqa: SIM115
        except OSError as exc:
            raise click.UsageError(f"output: cannot write {output}: {exc.strerror}") from None
        try:
            # On the record before any row leaves, so even a cut-short export is audited.
            try:
                rows = services.staff.audit.export(principal, filters, fmt=fmt)
            except StaffError as exc:
                note_refusal(services, exc)
                raise click.UsageError(exc.message) from None
            count = write_export(fmt, rows, out or sys.stdout)
        finally:
            if out is not None:
                out.close()
    if output:
        click.echo(f"exported {count} events to {output}", err=True)


# --- retention -------------------------------------------------------------------------------


@main.group(help="Retention of the audit trail (IDP_RETENTION_DAYS).")
def retention() -> None:
    pass


@retention.command("apply", help="Delete audit events older than the retention period.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--json", "as_json", is_flag=True)
def retention_apply(dry_run: bool, as_json: bool) -> None:
    from datetime import timedelta

    from idp.audit.chain import checkpoint_key
    from idp.records import AuditEntry

    settings = _settings()
    cutoff = _now() - timedelta(days=settings.retention_days)
    with _db(settings) as database, database.transaction() as uow:
        if dry_run:
            count = uow.audit.count_before(cutoff)
        else:
            count = uow.audit.purge_before(
                cutoff, key=checkpoint_key(settings.secret_key), now=_now()
            )
            # The purge itself is on the record.
            uow.audit.record(
                AuditEntry(
                    type="audit_purged",
                    outcome="success",
                    actor="staff:cli",
                    details={"before": cutoff.isoformat(), "events": count},
                ),
                now=_now(),
            )
    verb = "would delete" if dry_run else "deleted"
    _emit(
        {"cutoff": cutoff.isoformat(), "events": count, "dry_run": dry_run},
        as_json,
        f"{verb} {count} audit events older than {cutoff.date()}",
    )


# --- invitations ---------------------------------------------------------------------------


@main.group(help="Practice invitations: an emailed activation code links a patient record.")
def invitations() -> None:
    pass


def _invitation_row(invitation: Any, now: datetime) -> dict[str, Any]:
    """What staff may print: never the code (only its hash is stored anyway)."""
    return {
        "id": invitation.id,
        "portal": invitation.portal_slug,
        "patient_id": invitation.patient_id,
        "status": invitation.state(now),
        "created_by": invitation.created_by,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
        "activated_at": invitation.activated_at.isoformat() if invitation.activated_at else None,
    }


def _staff_actor(staff: str) -> str:
    staff = staff.strip()
    if not staff or len(staff) > 64 or not staff.isprintable():
        _fail("--staff must be 1-64 printable characters")
    return f"staff:{staff}"


@invitations.command(
    "create",
    help="Invite a patient record; the patient is emailed a 'Sign up for an account' link. "
    "A newer invitation for the same record replaces a pending one.",
)
@click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
@click.option("--patient-id", required=True, help="The practice's patient identifier (MRN).")
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--dob", required=True, help="Date of birth, YYYY-MM-DD.")
@click.option("--zip", "zip_code", required=True, help="5 digits or ZIP+4.")
@click.option("--gender", required=True, help="female, male, other or unknown.")
@click.option("--email", required=True)
@click.option("--staff", default="cli", show_default=True, help="Who is inviting (audited).")
@click.option("--json", "as_json", is_flag=True)
def invitations_create(
    portal_slug: str,
    patient_id: str,
    first_name: str,
    last_name: str,
    dob: str,
    zip_code: str,
    gender: str,
    email: str,
    staff: str,
    as_json: bool,
) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.invitations import InvitationInput
    from idp.flows.staff.errors import StaffError
    from idp.messages import message

    _staff_actor(staff)
    form = InvitationInput(
        patient_id=patient_id,
        first_name=first_name,
        last_name=last_name,
        dob=dob,
        zip=zip_code,
        gender=gender,
        email=email,
    )
    with _services(_link_settings()) as services:
        try:
            created = services.staff.invitations.create(
                cli_principal(services, staff), portal_slug, form
            )
        except StaffError as exc:
            refused_or_fail(services, exc)
        if created.invitation is None:
            _fail(
                "; ".join(
                    f"--{name.replace('_', '-')}: {message(f'invitation_field_{code}')}"
                    for name, code in created.fields.items()
                )
            )
        # This process ends now: send the email here rather than wait for a worker.
        services.dispatcher.send_due()
        row = _invitation_row(created.invitation, services.clock())
    _emit(
        row,
        as_json,
        f"invitation {row['id']} for {row['patient_id']} at {row['portal']} emailed "
        f"(expires {row['expires_at']})",
    )


@invitations.command("revoke", help="Withdraw a pending invitation: its code stops working.")
@click.argument("invitation_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--staff", required=True, help="Who is revoking (audited).")
@click.option("--reason", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True)
def invitations_revoke(invitation_id: int, staff: str, reason: str | None, as_json: bool) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.invitations import Revocation
    from idp.flows.staff.errors import Conflict, StaffError

    _staff_actor(staff)
    with _services(_settings()) as services:
        try:
            outcome, found = services.staff.invitations.revoke(
                cli_principal(services, staff), invitation_id, reason=reason, reason_required=False
            )
        except Conflict:
            _fail(f"invitation {invitation_id} was already activated (unlink the account instead)")
        except StaffError as exc:
            refused_or_fail(services, exc)
        row = _invitation_row(found, services.clock())
    text = f"invitation {invitation_id} revoked"
    if outcome is Revocation.ALREADY_REVOKED:
        text = f"invitation {invitation_id} was already revoked"
    _emit(row, as_json, text)


@invitations.command(
    "resend",
    help="Email a new activation code for a pending invitation; the old code stops working.",
)
@click.argument("invitation_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--staff", required=True, help="Who is resending (audited).")
@click.option("--reason", required=True, help="Why, e.g. the patient's call (audited).")
@click.option("--json", "as_json", is_flag=True)
def invitations_resend(invitation_id: int, staff: str, reason: str, as_json: bool) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import StaffError

    _staff_actor(staff)
    with _services(_link_settings()) as services:
        try:
            found = services.staff.invitations.resend(
                cli_principal(services, staff), invitation_id, reason=reason
            )
        except StaffError as exc:
            refused_or_fail(services, exc)
        services.dispatcher.send_due()
        row = _invitation_row(found, services.clock())
    _emit(row, as_json, f"invitation {invitation_id}: a new code was emailed")


@invitations.command("list", help="A practice's invitations, newest first (never the codes).")
@click.option("--portal", "portal_slug", required=True, help="Slug of the practice.")
@click.option("--staff", help="The staff member listing (a practice: its portals only).")
@click.option("--json", "as_json", is_flag=True)
def invitations_list(portal_slug: str, staff: str | None, as_json: bool) -> None:
    from idp.cli_staff import cli_principal, refused_or_fail
    from idp.flows.staff.errors import NotFound, StaffError

    with _services(_settings()) as services:
        try:
            found = services.staff.invitations.list(cli_principal(services, staff), portal_slug)
        except NotFound:
            _fail(f"no portal with slug {portal_slug!r}")
        except StaffError as exc:
            refused_or_fail(services, exc)
        now = services.clock()
        rows = [_invitation_row(i, now) for i in found.invitations]
    _emit(
        rows,
        as_json,
        "\n".join(
            f"{r['id']}  {r['patient_id']}  {r['status']}  expires {r['expires_at']}" for r in rows
        )
        or "no invitations",
    )


# --- demo ------------------------------------------------------------------------------------


@main.command(help="Set up demo data and run the provider with a demo portal beside it.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65534))
def demo(host: str, port: int) -> None:
    from idp.demo import run_demo

    settings = _serving_settings(host, port)
    for note in prepare_embedded(settings):
        click.echo(note)
    _record_issuer(settings)
    run_demo(settings, host=host, port=port, serve=lambda s: _run_gunicorn(s, host, port, 1))


def _register_proxy_commands() -> None:
    from idp.cli_portal_terms import register as register_terms
    from idp.cli_proxy import register
    from idp.cli_proxy_notices import register as register_notices

    register(main)
    register_notices(main)
    register_terms(portals)


_register_proxy_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
