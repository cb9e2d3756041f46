"""Staff operations (issue 11): one function per operation, called by every surface.

The console (``/admin/``), the JSON admin API (``/api/admin/``) and the ``idp``
command line each parse their input, build a
:class:`~idp.policies.staff_roles.StaffPrincipal`, and call the same function here,
so no operation exists in three copies. Each one checks the principal's role and
portal (``idp.policies.staff_roles``), refuses bad input before it writes anything,
and makes its change and its audit event (staff actor, reason, portal) in one
transaction (DESIGN.md invariant 9).
"""
