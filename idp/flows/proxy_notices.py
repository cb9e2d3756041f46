"""``idp proxy notify-transitions``: tell both sides when a birthday or a period changes
what a representative may see (issue 10 item 7; standards.md §3 note (b)).

Access itself never waits for this job: every token asks the policy at its own moment.
The job only tells people, and it is safe to run as often as wanted:

1. grants whose access has ended (majority, adult period, end date) are marked
   ``expired`` and both sides told (:meth:`ProxyGrantFlow.expire_due`);
2. for every other active grant, each transition the policy reports between the later
   of the grant's creation and ``lookback`` ago, and now (a teen birthday that limits a
   parent's access, a representative coming of age...) is mailed to both sides once:
   the grant's history gets a ``notified`` row whose reason names the transition and
   its local date, and a later run finds that row and sends nothing;
3. minors' accounts sharing an email or phone with a live representative are flagged
   to staff (once per grant).

Each grant is handled in its own transaction: its history row, audit event and emails
commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from idp.clock import Clock
from idp.i18n import translate
from idp.notify import Notifier
from idp.policies.proxy import GrantStatus, ProxyTransition, local_date, next_transitions
from idp.records import AuditEntry, RequestMeta
from idp.store.durable import Database, UnitOfWork

from .proxy_grants import ProxyGrantFlow
from .proxy_views import LEVEL_WORDS, GrantView, flag_shared_contact, grant_terms, grant_view

if TYPE_CHECKING:
    from idp.services import Services

DEFAULT_LOOKBACK = timedelta(days=14)
ACTOR = "system:notify-transitions"


class NoticeReport(NamedTuple):
    expired: int  # grants marked expired (both sides told)
    notified: int  # transitions told (each to both sides)
    flagged: int  # grants newly flagged to staff for a shared email or phone


class ProxyNoticeFlow:
    def __init__(
        self,
        *,
        db: Database,
        grants: ProxyGrantFlow,
        notifier: Notifier,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._db = db
        self._grants = grants
        self._notifier = notifier
        self._clock = clock
        self._issuer = issuer.rstrip("/")

    @classmethod
    def from_services(cls, services: Services) -> ProxyNoticeFlow:
        return cls(
            db=services.db,
            grants=ProxyGrantFlow.from_services(services),
            notifier=services.notifier,
            clock=services.clock,
            issuer=services.settings.issuer,
        )

    def run(self, *, lookback: timedelta = DEFAULT_LOOKBACK) -> NoticeReport:
        if lookback <= timedelta(0):
            raise ValueError("lookback must be positive")
        expired = self._grants.expire_due(actor=ACTOR)
        now = self._clock()
        with self._db.transaction() as uow:
            ids = [g.id for g in uow.proxy_grants.active()]
        notified = flagged = 0
        for grant_id in ids:
            with self._db.transaction() as uow:
                sent, new_flag = self._one(uow, grant_id, now, lookback)
                notified += sent
                flagged += new_flag
        return NoticeReport(expired=expired, notified=notified, flagged=flagged)

    def _one(
        self, uow: UnitOfWork, grant_id: int, now: datetime, lookback: timedelta
    ) -> tuple[int, int]:
        grant = uow.proxy_grants.by_id(grant_id)
        if grant is None or grant.status != GrantStatus.ACTIVE:
            return 0, 0
        terms = grant_terms(uow, self._grants.rules, grant)
        if terms is None:
            return 0, 0
        rules, facts = terms
        after = max(grant.created_at, now - lookback)
        due = [t for t in next_transitions(facts, rules, after) if t.at <= now]
        view = grant_view(uow, self._grants.rules, grant, now)
        told = {e.reason for e in view.history if e.action == "notified"}
        sent = 0
        for transition in due:
            key = f"{transition.kind.value}@{local_date(transition.at, rules).isoformat()}"
            if key in told:
                continue
            uow.proxy_grants.note(grant.id, "notified", actor=ACTOR, reason=key, now=now)
            self._tell(uow, view, transition, key, now)
            sent += 1
        flagged = flag_shared_contact(uow, view, now=now, meta=RequestMeta(), actor=ACTOR)
        return sent, int(flagged)

    def _tell(
        self, uow: UnitOfWork, view: GrantView, transition: ProxyTransition, key: str, now: datetime
    ) -> None:
        rep = uow.accounts.by_id(view.grant.representative_account_id)
        person = uow.patients.person(view.grant.patient_person_id)
        patient_email = None
        if view.patient_subject is not None:
            account = uow.accounts.by_subject(view.patient_subject)
            patient_email = account.email if account is not None else None
        if patient_email is None and person is not None:
            patient_email = person.email
        context = {
            "practice": view.portal.name,
            "patient_first_name": "" if person is None else person.first_name,
            "representative_name": view.representative_username
            if rep is None or rep.person is None
            else f"{rep.person.first_name} {rep.person.last_name}",
            "kind": transition.kind.value,
            "level_before": translate(LEVEL_WORDS[transition.level_before]),
            "level_after": translate(LEVEL_WORDS[transition.level_after]),
            "on": local_date(transition.at, self._grants.rules_for(view.portal)).isoformat(),
            "account_url": f"{self._issuer}/account/proxy",
        }
        sent: set[str] = set()
        for role, address in (
            ("representative", rep.email if rep else None),
            ("patient", patient_email),
        ):
            if not address or address.casefold() in sent:
                continue
            sent.add(address.casefold())
            self._notifier.email(
                uow,
                to=address,
                template="proxy_access_changed",
                context={**context, "role": role},
                now=now,
            )
        uow.audit.record(
            AuditEntry(
                type="proxy_access_changed",
                outcome="success",
                actor=ACTOR,
                subject=view.patient_subject or f"person:{view.grant.patient_person_id}",
                details={
                    "grant_id": view.grant.id,
                    "portal": view.portal.slug,
                    "representative": view.representative_subject,
                    "transition": key,
                    "level_before": transition.level_before.value,
                    "level_after": transition.level_after.value,
                },
            ),
            now=now,
        )
