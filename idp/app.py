"""create_app: the one place that knows every concrete class (STYLE.md, "Layout")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.clock import Clock, FileOffsetClock, system_clock
from idp.flows.authn.flow import AuthnFlow
from idp.flows.authn.passkey import PasskeySignIn
from idp.flows.authn.step_up import StepUp
from idp.flows.credentials import CredentialRules
from idp.flows.devices import DeviceCookies
from idp.flows.first_signin import FirstSigninFlow
from idp.flows.lockout import CredentialLockout
from idp.flows.login import AddressLimit, LoginFlow
from idp.flows.methods.password import PasswordHashing
from idp.flows.methods.second_factors import SecondFactorMethods
from idp.flows.proxy_grants import ProxyGrantFlow
from idp.flows.staff.operations import StaffOperations
from idp.flows.store import FlowStore
from idp.i18n import active_locale
from idp.messages import message
from idp.metrics import Metrics, OutboxBacklog, multiprocess_dir
from idp.notify import (
    DevelopmentOutbox,
    Dispatcher,
    DispatchWorker,
    Notifier,
    Sender,
    SmtpEmailSender,
    TemplateRenderer,
    WebhookSmsSender,
    sender_domain,
)
from idp.notify.messages import Channel
from idp.notify.tasks import TaskRunner
from idp.oidc.backchannel import PortalLogout
from idp.oidc.client_directory import MAX_AGE_SECONDS, ClientDirectory
from idp.oidc.context import OIDCContext
from idp.oidc.keys import KeyRing
from idp.oidc.tokens import AccessTokenStore, CodeStore, new_token
from idp.oidc.user_directory import MAX_AGE_SECONDS as USER_MAX_AGE_SECONDS
from idp.oidc.user_directory import UserDirectory
from idp.policies.lockout import LockoutRules, address_failure_budget
from idp.policies.password import PASSWORD_PRESETS
from idp.policies.session import SessionRules
from idp.records import ClientRecord
from idp.services import Services
from idp.settings import PROJECT_ROOT, Settings, load_settings
from idp.store.attempts import AttemptCounter
from idp.store.interactions import InteractionStore
from idp.store.interfaces import EphemeralStore
from idp.store.memory import MemoryEphemeralStore
from idp.store.redis import RedisEphemeralStore
from idp.store.sessions import SSOSessionStore
from idp.store.sql.candidates import claim_matching_secret
from idp.store.sql.committed_audit import on_committed_audit
from idp.store.sql.database import Database
from idp.store.sqlite import SqliteEphemeralStore
from idp.store.throttle import Throttle
from idp.store.unreachable import UnreachableEphemeralStore
from idp.store.user_data import Announcer
from idp.web.converters import RowIdConverter
from idp.web.hosts import HostGuard

log = logging.getLogger("idp")

# Signing keys stay published this long after rotation: the ID token lifetime
# plus five minutes of clock skew between servers and relying parties.
KEY_PUBLISH_MARGIN = 300


def key_publish_window(settings: Settings) -> int:
    return settings.tokens.id_token + KEY_PUBLISH_MARGIN


def build_ephemeral(settings: Settings) -> EphemeralStore:
    """Redis when configured; otherwise the SQLite file every local process shares.

    The in-process store only on request (``IDP_EPHEMERAL=memory``): a command run
    beside the server could not reach it (issue 8, item 13).
    """
    if settings.redis_url:
        store = RedisEphemeralStore.from_url(settings.redis_url, timeout=settings.redis_timeout)
        store.ping()
        return store
    if settings.ephemeral_backend == "memory":
        return MemoryEphemeralStore()
    sqlite_store = SqliteEphemeralStore(settings.ephemeral_path)
    sqlite_store.ping()
    return sqlite_store


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


def build_services(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    ephemeral: EphemeralStore | None = None,
    db: Database | None = None,
    background_delivery: bool = True,
) -> Services:
    """Build the object graph.

    ``background_delivery=False`` leaves mail and texts in the outbox until someone
    calls ``dispatcher.send_due()``: tests use it to read messages deterministically.
    """
    if settings.test_clock_file is not None and clock is system_clock:
        clock = FileOffsetClock(settings.test_clock_file)  # IDP_ENV=test only (settings)
    db = db or Database.from_url(
        settings.database_url,
        connect_timeout=settings.database_connect_timeout,
        replica_url=settings.database_replica_url,
    )
    ephemeral = ephemeral or build_ephemeral(settings)
    # Every commit that changes what UserInfo shows tells every process's cache
    # (idp/store/user_data.py); a command without the server's store cannot.
    if not isinstance(ephemeral, UnreachableEphemeralStore):
        db.on_user_data_change = Announcer(ephemeral)
    rules = LockoutRules(
        max_failures=settings.lockout.max_failures,
        lock_seconds=settings.lockout.lock_seconds,
        hard_cap=settings.lockout.hard_cap,
    )
    hashing = PasswordHashing(settings.password_hashing)
    attempts = AttemptCounter(ephemeral, rules)
    throttle = Throttle(ephemeral)
    credentials = CredentialRules(
        password_policy=settings.password_policy,
        security_questions=settings.accounts.security_questions,
        service_name=settings.service_name,
    )
    dispatcher = build_dispatcher(settings, db, clock)
    outbox_worker = DispatchWorker(dispatcher, interval=settings.outbox_poll_interval)
    notifier = Notifier(
        TemplateRenderer(
            PROJECT_ROOT / "templates", globals={"service_name": settings.service_name}
        ),
        message_id_domain=sender_domain(settings.smtp.sender),
        phone_region=settings.sms.phone_region,
        on_commit=outbox_worker.wake if background_delivery else None,
        locale=active_locale,
    )
    devices = DeviceCookies(
        settings.secret_key, max_age=settings.lockout.device_cookie_days * 86400
    )
    access_tokens = AccessTokenStore(ephemeral, ttl=settings.tokens.access_token)
    lockout = CredentialLockout(
        attempts, rules, notifier, devices, on_account_locked=access_tokens.revoke_account
    )
    login = LoginFlow(
        db=db,
        hashing=hashing,
        lockout=lockout,
        clock=clock,
        throttle=throttle,
        address_limit=AddressLimit(
            failures=address_failure_budget(
                rules,
                accounts=settings.lockout.accounts_per_address,
                ceiling=settings.accounts.ip_failure_limit,
            ),
            window=settings.accounts.ip_failure_window,
        ),
        temporary_password_ttl=settings.accounts.temporary_password_ttl,
    )
    first_signin = FirstSigninFlow(db=db, hashing=hashing, rules=credentials, clock=clock)
    flows = FlowStore(ephemeral, clock)
    # One set of second-factor methods for enrolment (account page) and sign-in.
    factors = SecondFactorMethods.build(
        secret_key=settings.secret_key,
        issuer=settings.issuer,
        service_name=settings.service_name,
        ephemeral=ephemeral,
    )
    # At sign-in, in the order a submission is offered to them.
    second_factors = (factors.totp, factors.recovery_codes, factors.webauthn)
    # "Whose record" at sign-in and every proxy token ask the grant flow, which asks the
    # proxy policy at that moment (issue 10 items 5 and 6).
    proxy_grants = ProxyGrantFlow(db=db, notifier=notifier, clock=clock, issuer=settings.issuer)
    authn = AuthnFlow(
        db=db,
        flows=flows,
        login=login,
        first_signin=first_signin,
        lockout=lockout,
        methods=second_factors,
        clock=clock,
        notify=notifier.email,
        records=proxy_grants,
        # Passkeys as the first factor too (discoverable credentials, no user ID typed).
        passkey_signin=PasskeySignIn(
            db=db, method=factors.webauthn, lockout=lockout, hashing=hashing, clock=clock
        ),
    )
    keys = KeyRing(settings.keys_dir, publish_for=key_publish_window(settings))
    sessions = SSOSessionStore(
        ephemeral,
        SessionRules(
            idle_timeout=settings.session.idle_timeout,
            absolute_timeout=settings.session.absolute_timeout,
        ),
    )

    def find_client(client_id: str) -> ClientRecord | None:
        with db.transaction() as uow:
            return uow.clients.by_client_id(client_id)

    services = Services(
        settings=settings,
        db=db,
        ephemeral=ephemeral,
        keys=keys,
        hashing=hashing,
        sessions=sessions,
        interactions=InteractionStore(ephemeral, ttl=settings.session.interaction_ttl),
        codes=CodeStore(
            ephemeral,
            ttl=settings.tokens.code,
            replay_window=max(3600, settings.tokens.access_token * 6),
        ),
        access_tokens=access_tokens,
        attempts=attempts,
        lockout=lockout,
        devices=devices,
        login=login,
        credentials=credentials,
        first_signin=first_signin,
        flows=flows,
        authn=authn,
        step_up=StepUp(authn=authn, lockout=lockout, hashing=hashing),
        throttle=throttle,
        notifier=notifier,
        dispatcher=dispatcher,
        outbox_worker=outbox_worker,
        clock=clock,
        second_factors=factors,
        proxy_grants=proxy_grants,
        portal_logout=PortalLogout(
            sessions=sessions,
            notifier=notifier,
            ephemeral=ephemeral,
            keys=keys,
            issuer=settings.issuer,
            clock_ts=lambda: clock().timestamp(),
            find_client=find_client,
        ),
        # The in-process store is this process's alone: a command could not announce a
        # change to it, so with it nothing is cached (max_age 0).
        clients=ClientDirectory(
            ephemeral,
            max_age=0.0
            if settings.ephemeral_backend == "memory" and not settings.redis_url
            else MAX_AGE_SECONDS,
        ),
        users=UserDirectory(
            max_age=0.0
            if settings.ephemeral_backend == "memory" and not settings.redis_url
            else USER_MAX_AGE_SECONDS
        ),
    )
    services.staff = _staff_operations(services)
    _register_tasks(services)
    return services


def _staff_operations(services: Services) -> StaffOperations:
    """The staff operations every surface calls (console, admin API, CLI)."""
    from idp.flows.forgot_password import ForgotPasswordFlow
    from idp.flows.invitations import InvitationFlow
    from idp.flows.recovery_common import RecoveryDeps
    from idp.flows.staff.audit_trail import AuditTrail
    from idp.flows.staff.directory import StaffDirectory
    from idp.flows.staff.enrollment_queue import EnrollmentQueue
    from idp.flows.staff.invitation_desk import InvitationDesk
    from idp.flows.staff.lookup import PatientLookup
    from idp.flows.staff.patient_record import PatientRecords
    from idp.flows.staff.proxy_queue import ProxyApprovals
    from idp.flows.staff.refusals import StaffRefusals
    from idp.flows.staff.registry import PortalRegistry
    from idp.flows.staff.support import SupportDesk
    from idp.store.candidates import reindex_account

    secret = services.settings.secret_key
    return StaffOperations(
        directory=StaffDirectory(db=services.db, clock=services.clock),
        support=SupportDesk(
            db=services.db,
            clock=services.clock,
            notifier=services.notifier,
            attempts=services.attempts,
            sessions=services.sessions,
            grants=services.access_tokens,
            reset_links=lambda: ForgotPasswordFlow(RecoveryDeps.from_services(services)),
            reset_link_ttl=services.settings.accounts.reset_link_ttl,
            reindex=lambda uow, account_id: reindex_account(uow, account_id, secret),
        ),
        lookup=PatientLookup(db=services.db, clock=services.clock, locks=services.attempts),
        audit=AuditTrail(db=services.db, clock=services.clock),
        records=PatientRecords(db=services.db, clock=services.clock, locks=services.attempts),
        enrollments=EnrollmentQueue(db=services.db, review=lambda: _enrollment_review(services)),
        invitations=InvitationDesk(
            db=services.db, flow=lambda: InvitationFlow.from_services(services)
        ),
        proxy=ProxyApprovals(db=services.db, flow=lambda: ProxyGrantFlow.from_services(services)),
        registry=PortalRegistry(
            db=services.db, clock=services.clock, clients_changed=services.clients.changed
        ),
        refusals=StaffRefusals(db=services.db, clock=services.clock),
    )


def _enrollment_review(services: Services) -> Any:
    """The enrollment decision, releasing the sign-up's user-ID reservation on approval
    where the ephemeral store is reachable (a CLI process with the embedded in-process
    store gets one that refuses: the reservation then simply expires)."""
    from idp.flows.enrollments import EnrollmentReview
    from idp.store.unreachable import UnreachableEphemeralStore

    shared = not isinstance(services.ephemeral, UnreachableEphemeralStore)
    return EnrollmentReview(
        notifier=services.notifier,
        clock=services.clock,
        issuer=services.settings.issuer,
        verify_link_ttl=services.settings.accounts.verify_link_ttl,
        matching_secret=services.settings.secret_key,
        ephemeral=services.ephemeral if shared else None,
    )


def _register_tasks(services: Services) -> None:
    """The handlers of work queued for after the response (idp.notify.tasks)."""
    from idp.flows.forgot_password import LINK_REQUEST_TASK, ForgotPasswordFlow
    from idp.flows.recovery_common import RecoveryDeps
    from idp.flows.registration import RegistrationFlow
    from idp.flows.signup_links import RESEND_TASK
    from idp.oidc.backchannel import LOGOUT_TASK

    def reset_link_request(payload: Mapping[str, Any]) -> None:
        ForgotPasswordFlow(RecoveryDeps.from_services(services)).complete_link_request(payload)

    def signup_resend(payload: Mapping[str, Any]) -> None:
        RegistrationFlow.from_services(services).complete_resend(payload)

    runner = TaskRunner(
        {
            LINK_REQUEST_TASK: reset_link_request,
            RESEND_TASK: signup_resend,
            LOGOUT_TASK: services.portal_logout.deliver,
        }
    )
    services.dispatcher.add_sender(Channel.TASK, runner)


def build_dispatcher(settings: Settings, db: Database, clock: Clock) -> Dispatcher:
    """Real SMTP and SMS gateways when configured; the development outbox otherwise.

    Outside development an unconfigured channel has no sender: its messages are
    marked failed (visible in the outbox table) rather than silently dropped.
    """
    senders: dict[str, Sender] = {}
    if settings.smtp.host:
        senders["email"] = SmtpEmailSender(
            settings.smtp.host,
            settings.smtp.port,
            sender=settings.smtp.sender,
            security=settings.smtp.security,
            user=settings.smtp.user,
            password=settings.smtp.password,
        )
    elif settings.is_development:
        senders["email"] = DevelopmentOutbox()
    if settings.sms.webhook_url and settings.sms.webhook_secret:
        senders["sms"] = WebhookSmsSender(
            settings.sms.webhook_url, secret=settings.sms.webhook_secret
        )
    elif settings.is_development:
        senders["sms"] = DevelopmentOutbox()
    # Bodies (links, codes) are blanked once sent, except in the development outbox.
    return Dispatcher(db, senders, clock=clock)


def build_metrics(services: Services) -> Metrics:
    """The app's metrics, fed by committed audit events and the outbox table."""
    metrics = Metrics(multiprocess=multiprocess_dir())
    on_committed_audit(services.db, metrics.observe_audit)

    def backlog() -> dict[str, int]:
        with services.db.transaction() as uow:
            return uow.outbox.backlog()

    metrics.add_scrape_collector(OutboxBacklog(backlog))
    return metrics


def _prebuilt_documents(app: Flask, services: Services) -> Any:
    from idp.web import oidc, smart
    from idp.web.prebuilt import PrebuiltDocuments, PrebuiltRoute

    return PrebuiltDocuments(
        app.wsgi_app,
        url_map=app.url_map,
        routes=[
            # Built by Flask at its first request (with that request's script root).
            PrebuiltRoute("oidc.discovery", lambda: app.extensions.get(oidc.DISCOVERY_KEY)),
            PrebuiltRoute(
                "smart.configuration", lambda: app.extensions.get(smart.EXTENSION_KEY), cors=True
            ),
            # Read from the key ring every time: a rotation shows as soon as Flask showed it.
            PrebuiltRoute("oidc.jwks", services.keys.jwks_document),
        ],
        secure=services.settings.secure_cookies,
    )


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    fast_path: bool = True,
    **overrides: Any,
) -> Flask:
    """The provider's WSGI app.

    ``fast_path=False`` leaves every protocol request to the Flask routes (the
    fast path's equality tests compare the two).
    """
    from idp.web import (
        account,
        admin_api,
        auth,
        enrollments,
        errors,
        health,
        invitations,
        oidc,
        portals_page,
        proxy_api,
        proxy_pages,
        recovery,
        registry_api,
        security,
        signup,
        smart,
        two_step,
    )
    from idp.web import admin as admin_console
    from idp.web.deps import commit_request_uow, request_meta, request_uow, rollback_request_uow
    from idp.web.fastpath import ProtocolFastPath
    from idp.web.locale import init_locale
    from idp.web.metrics import MetricsMiddleware, ObservedFlask, init_metrics
    from idp.web.request_id import RequestIdMiddleware
    from idp.web.server import build_server

    if services is None:
        settings = settings or load_settings(**overrides)
        services = build_services(settings)
    settings = services.settings
    # Matching under another secret than the index's would silently match nobody.
    claim_matching_secret(services.db, settings.secret_key)

    app = ObservedFlask(
        "idp",
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    # Before any route is added: every <int:...> is bounded to a row id.
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="idp_csrf",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=settings.session.absolute_timeout,
        # Forms and token requests are small; anything bigger is refused early (413).
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        # The CSRF token must outlive a slow sign-in, not a whole day.
        WTF_CSRF_TIME_LIMIT=settings.session.interaction_ttl,
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        OAUTH2_ACCESS_TOKEN_GENERATOR=lambda *a, **k: new_token(),
        OAUTH2_REFRESH_TOKEN_GENERATOR=lambda *a, **k: new_token(),
        OAUTH2_TOKEN_EXPIRES_IN={
            "authorization_code": settings.tokens.access_token,
            "refresh_token": settings.tokens.access_token,
            "client_credentials": settings.tokens.access_token,
        },
    )
    ctx = OIDCContext(
        issuer=settings.issuer,
        keys=services.keys,
        codes=services.codes,
        access_tokens=services.access_tokens,
        lifetimes=settings.tokens,
        clock=services.clock,
        clients=services.clients,
        users=services.users,
        uow=request_uow,
        request_meta=request_meta,
        proxy=services.proxy_grants,
        sessions=services.sessions,
    )
    # Discovery, SMART configuration and the JWKS answered without Flask when nothing
    # else in the request could change the answer (issue 12); behind every check below.
    app.wsgi_app = _prebuilt_documents(app, services)  # type: ignore[method-assign]
    if fast_path:
        # Likewise token, revocation, introspection and UserInfo (idp/web/fastpath.py).
        app.wsgi_app = ProtocolFastPath(  # type: ignore[method-assign]
            app.wsgi_app, flask_app=app, ctx=ctx, db=services.db, secure=settings.secure_cookies
        )
    # Innermost, so a Host taken from X-Forwarded-Host is checked as well.
    app.wsgi_app = HostGuard(app.wsgi_app)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # Only as many X-Forwarded-* hops as the deployment says it has proxies: each
        # one appends what it saw, so the rightmost N entries are the proxies' word and
        # anything further left is the client's own (forgeable) claim.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    # Outermost: every response is timed and carries a request id, even a refusal
    # by the Host guard or one answered before Flask matched a route.
    metrics = build_metrics(services)
    app.wsgi_app = MetricsMiddleware(app.wsgi_app, metrics)  # type: ignore[method-assign]
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["idp"] = services
    if not PASSWORD_PRESETS[settings.password_policy].nist_conformant:
        log.warning(
            "IDP_PASSWORD_POLICY=%s does not meet NIST SP 800-63B (composition rules, "
            "6-character minimum); use it only to match an existing portal's rule",
            settings.password_policy,
        )
    # A missing value renders as nothing, never as the word "None" (issue 14, item 7).
    app.jinja_env.finalize = _blank_none
    app.jinja_env.globals.update(
        service_name=settings.service_name,
        message=message,
        signup_enabled=settings.accounts.signup_enabled,
    )

    # Before the first render: English and Spanish pages (issue 14 item 5).
    init_locale(app)

    server, protector = build_server(app, ctx)
    security.init_security(app)
    errors.init_errors(app)
    app.after_request(commit_request_uow)
    app.teardown_request(rollback_request_uow)
    oidc.init_oidc(app, server, protector)
    init_metrics(app, metrics, networks=settings.metrics_allowed_networks)
    app.register_blueprint(health.bp)
    app.register_blueprint(smart.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(signup.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(two_step.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(portals_page.bp)
    app.register_blueprint(invitations.bp)
    app.register_blueprint(invitations.api)
    app.register_blueprint(proxy_api.api)
    app.register_blueprint(proxy_pages.bp)
    app.register_blueprint(enrollments.bp)
    app.register_blueprint(registry_api.api)
    app.register_blueprint(admin_api.api)
    app.register_blueprint(admin_console.bp)
    # JSON APIs authenticate clients by bearer token, not browser cookies: no CSRF.
    security.csrf.exempt(invitations.api)
    security.csrf.exempt(proxy_api.api)
    security.csrf.exempt(enrollments.bp)
    security.csrf.exempt(registry_api.api)
    security.csrf.exempt(admin_api.api)
    if settings.is_development:
        from idp.web import dev_outbox

        # Development only: the page that shows mail and texts instead of sending them.
        app.register_blueprint(dev_outbox.bp)
    return app
