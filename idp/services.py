"""The provider's object graph: built once in create_app, shared by every request."""

from __future__ import annotations

from dataclasses import dataclass, field

from idp.clock import Clock
from idp.flows.authn.flow import AuthnFlow
from idp.flows.authn.step_up import StepUp
from idp.flows.credentials import CredentialRules
from idp.flows.devices import DeviceCookies
from idp.flows.first_signin import FirstSigninFlow
from idp.flows.lockout import CredentialLockout
from idp.flows.login import LoginFlow
from idp.flows.methods.password import PasswordHashing
from idp.flows.methods.second_factors import SecondFactorMethods
from idp.flows.proxy_grants import ProxyGrantFlow
from idp.flows.staff.operations import StaffOperations
from idp.flows.store import FlowStore
from idp.notify import Dispatcher, DispatchWorker, Notifier
from idp.oidc.backchannel import PortalLogout
from idp.oidc.client_directory import ClientDirectory
from idp.oidc.keys import KeyRing
from idp.oidc.tokens import AccessTokenStore, CodeStore
from idp.oidc.user_directory import UserDirectory
from idp.settings import Settings
from idp.store.attempts import AttemptCounter
from idp.store.interactions import InteractionStore
from idp.store.interfaces import EphemeralStore
from idp.store.sessions import SSOSessionStore
from idp.store.sql.database import Database
from idp.store.throttle import Throttle


@dataclass
class Services:
    settings: Settings
    db: Database
    ephemeral: EphemeralStore
    keys: KeyRing
    hashing: PasswordHashing
    sessions: SSOSessionStore
    interactions: InteractionStore
    codes: CodeStore
    access_tokens: AccessTokenStore
    attempts: AttemptCounter
    lockout: CredentialLockout
    devices: DeviceCookies
    login: LoginFlow
    credentials: CredentialRules
    first_signin: FirstSigninFlow
    flows: FlowStore
    authn: AuthnFlow
    step_up: StepUp
    throttle: Throttle
    notifier: Notifier
    dispatcher: Dispatcher
    outbox_worker: DispatchWorker
    clock: Clock
    # TOTP, passkeys, recovery codes: one set for the account page and sign-in alike.
    second_factors: SecondFactorMethods
    # Proxy grants: "whose record" at sign-in and the level of every proxy token.
    proxy_grants: ProxyGrantFlow
    # Back-channel logout: queues, delivers and reports logout tokens to portals.
    portal_logout: PortalLogout
    # Clients by client_id, cached per process; see idp/oidc/client_directory.py.
    clients: ClientDirectory
    # Accounts and practice links UserInfo shows, cached per process; see
    # idp/oidc/user_directory.py.
    users: UserDirectory
    # Staff operations (issue 11): set by build_services once the rest exists.
    staff: StaffOperations = field(init=False)

    def close(self) -> None:
        """Release pooled connections (CLI commands and tests end cleanly)."""
        self.outbox_worker.stop()
        self.db.dispose()
        close = getattr(self.ephemeral, "close", None)
        if close is not None:
            close()
