"""Every staff operation behind one object, built once per process in ``idp.app``.

The console, the JSON admin API and the CLI reach them as ``services.staff``:
``services.staff.support.unlock(principal, "alice", reason=...)``,
``services.staff.directory.add(principal, username=..., role=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .audit_trail import AuditTrail
from .directory import StaffDirectory
from .enrollment_queue import EnrollmentQueue
from .invitation_desk import InvitationDesk
from .lookup import PatientLookup
from .patient_record import PatientRecords
from .proxy_queue import ProxyApprovals
from .refusals import StaffRefusals
from .registry import PortalRegistry
from .support import SupportDesk


@dataclass(frozen=True, slots=True)
class StaffOperations:
    directory: StaffDirectory
    support: SupportDesk
    lookup: PatientLookup
    audit: AuditTrail
    records: PatientRecords
    enrollments: EnrollmentQueue
    invitations: InvitationDesk
    proxy: ProxyApprovals
    registry: PortalRegistry
    refusals: StaffRefusals
