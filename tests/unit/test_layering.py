"""Layering rules that keep invariant 11 structural (issue 9).

- Only ``idp/web/session_issuer.py`` starts an SSO session, and only from an
  ``AuthenticationResult``, which only ``idp.flows.authn.flow`` can make.
- Flows reach durable data through ``idp.store.interfaces`` Protocols, never
  ``idp.store.sql``. The journeys written before the kernel still import it; they
  are listed below and the list may only shrink (a module leaving it fails the test
  until it is removed here, so progress is recorded).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from idp.flows.authn.result import AuthenticationResult

ROOT = Path(__file__).resolve().parents[2]
IDP = ROOT / "idp"

# Modules of idp/flows that still import idp.store.sql, waiting to move onto the kernel.
LEGACY_SQL_IMPORTS = {
    "account_mfa.py",  # landed beside the kernel; its type hints name the SQL unit of work
    "account_settings.py",
    "credentials.py",
    "enrollments.py",
    "forgot_id.py",
    "forgot_password.py",
    "invitations.py",
    "mfa_reset.py",
    "patients.py",  # proxy access landed beside the kernel, on the SQL unit of work
    "portal_links.py",
    "proxy_grants.py",
    "proxy_views.py",
    "recovery_common.py",
    "registration.py",
    "signup_common.py",
    "signup_links.py",
    "signup_phone.py",
}


def _python_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


_SESSION_START = re.compile(r"\bsessions\s*\.\s*start\s*\(")


def test_only_the_session_issuer_starts_sessions() -> None:
    starters = [
        str(path.relative_to(ROOT))
        for path in _python_files(IDP)
        if _SESSION_START.search(path.read_text(encoding="utf-8"))
    ]
    assert starters == ["idp/web/session_issuer.py"]


def test_the_grep_would_catch_a_session_start() -> None:
    # The test above can fail: its pattern matches the shapes a call takes.
    assert _SESSION_START.search("svc.sessions.start(account_id=1)")
    assert _SESSION_START.search("services().sessions .start (")
    assert not _SESSION_START.search("svc.interactions.start(")


def test_only_the_authn_flow_issues_results() -> None:
    users = [
        str(path.relative_to(ROOT))
        for path in _python_files(IDP)
        if any(name.endswith("result._issue") for name in _imports(path))
    ]
    assert users == ["idp/flows/authn/flow.py"]


def test_a_result_cannot_be_built_elsewhere() -> None:
    with pytest.raises(TypeError):
        AuthenticationResult(
            account_id=1, subject="s", acting_for=None, amr=("pwd", "mfa"), acr=None, auth_time=0
        )
    with pytest.raises(TypeError):
        AuthenticationResult(1, "s", None, ("pwd",), None, 0, object())


def test_no_flow_module_imports_the_sql_store() -> None:
    offenders = {
        str(path.relative_to(IDP / "flows"))
        for path in _python_files(IDP / "flows")
        if any(name.startswith("idp.store.sql") for name in _imports(path))
    }
    new = offenders - LEGACY_SQL_IMPORTS
    assert not new, f"flow modules must use idp.store.interfaces Protocols: {sorted(new)}"
    moved = LEGACY_SQL_IMPORTS - offenders
    assert not moved, f"no longer import idp.store.sql, drop them from the list: {sorted(moved)}"


def test_kernel_and_authn_are_free_of_the_sql_store() -> None:
    for name in ("base.py", "store.py", "hooks.py", "login.py", "lockout.py", "first_signin.py"):
        assert name not in LEGACY_SQL_IMPORTS
    for path in _python_files(IDP / "flows" / "authn") + _python_files(IDP / "flows" / "methods"):
        assert not any(n.startswith("idp.store.sql") for n in _imports(path)), path
