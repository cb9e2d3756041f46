"""Who acted for whom: the account page's view of proxy sign-ins, choices and tokens.

Issue 10 item 9: every proxy sign-in, picker choice and token is audited with the
representative as actor and the patient as subject (``idp.oidc.grants``,
``idp.flows.authn.flow``). This module reads those events back for the two people
involved: the patient sees who acted for them (date, practice, representative), the
representative sees their own actions. Audit events are the record, so the page shows
exactly what was logged, nothing kept elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idp.records import AccountRecord, AuditRecord

# The events of a proxy session (actor: representative; subject: patient).
PROXY_EVENTS = ("proxy_signin", "record_chosen", "token_issued", "token_refreshed")
LIMIT = 20


@dataclass(frozen=True, slots=True)
class ProxyActivity:
    at: datetime
    event: str  # one of PROXY_EVENTS
    portal: str  # the practice's name ("" when unknown)
    representative: str  # who acted, by name
    patient: str  # for whom, by name


def acted_for_me(uow: Any, account: AccountRecord, *, limit: int = LIMIT) -> list[ProxyActivity]:
    """Events in which someone else acted for this account's patient record."""
    mine = {account.subject}
    if account.person is not None:
        mine.add(f"person:{account.person.id}")  # recorded before the account existed
    events: list[AuditRecord] = []
    for subject in sorted(mine):
        events += uow.audit.for_subject(subject, PROXY_EVENTS, limit)
    chosen = [e for e in events if e.actor != account.subject and e.actor not in mine]
    return _views(uow, sorted(chosen, key=lambda e: e.id, reverse=True)[:limit])


def my_proxy_actions(
    uow: Any, account: AccountRecord, *, limit: int = LIMIT
) -> list[ProxyActivity]:
    """Events in which this account acted for someone else."""
    events = uow.audit.by_actor(account.subject, PROXY_EVENTS, limit * 2)
    own = [e for e in events if e.subject and e.subject != account.subject]
    return _views(uow, own[:limit])


def _views(uow: Any, events: list[AuditRecord]) -> list[ProxyActivity]:
    names: dict[str, str] = {}
    portals: dict[str, str] = {}
    return [
        ProxyActivity(
            at=e.at,
            event=e.type,
            portal=_portal_name(uow, e.details, portals),
            representative=_name(uow, e.actor, names),
            patient=_name(uow, e.subject or "", names),
        )
        for e in events
    ]


def _name(uow: Any, subject: str, cache: dict[str, str]) -> str:
    if subject not in cache:
        cache[subject] = ""
        if subject.startswith("person:") and subject[7:].isdigit():
            person = uow.patients.person(int(subject[7:]))
            if person is not None:
                cache[subject] = f"{person.first_name} {person.last_name}"
        else:
            account = uow.accounts.by_subject(subject)
            if account is not None and account.person is not None:
                cache[subject] = f"{account.person.first_name} {account.person.last_name}"
            elif account is not None:
                cache[subject] = account.username
    return cache[subject]


def _portal_name(uow: Any, details: dict[str, Any], cache: dict[str, str]) -> str:
    key = str(details.get("portal") or details.get("portal_id") or "")
    if key and key not in cache:
        cache[key] = ""
        if isinstance(details.get("portal"), str):
            portal = uow.portals.by_slug(details["portal"])
        elif isinstance(details.get("portal_id"), int):
            portal = uow.patients.portal(details["portal_id"])
        else:
            portal = None
        cache[key] = portal.name if portal is not None else ""
    return cache.get(key, "")
