"""Layering rules that keep invariant 11 structural (issue 9).

- Only ``idp/web/session_issuer.py`` starts an SSO session, and only from an
  ``AuthenticationResult``, which only ``idp.flows.authn.flow`` can make.
- Flows reach durable data through the store Protocols (``idp.store.durable`` and
  the small modules it gathers: accounts, links, audit log, outbox, ...), never
  ``idp.store.sql``: not at run time, not under ``TYPE_CHECKING``, not relatively.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from idp.flows.authn.result import AuthenticationResult

ROOT = Path(__file__).resolve().parents[2]
IDP = ROOT / "idp"


def _python_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    return _imported_names(path.read_text(encoding="utf-8"), path.relative_to(ROOT))


def _imported_names(source: str, relative: Path) -> set[str]:
    """Every module and ``module.name`` the source imports, anywhere in it."""
    tree = ast.parse(source)
    names: set[str] = set()
    package = ".".join(relative.with_suffix("").parts[:-1])
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


def _imports_sql_store(names: set[str]) -> bool:
    return any(name == "idp.store.sql" or name.startswith("idp.store.sql.") for name in names)


def test_no_flow_module_imports_the_sql_store() -> None:
    offenders = sorted(
        str(path.relative_to(IDP / "flows"))
        for path in _python_files(IDP / "flows")
        if _imports_sql_store(_imports(path))
    )
    assert not offenders, f"flow modules must use the store Protocols: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        "from idp.store.sql.repositories import UnitOfWork",
        "import idp.store.sql.database",
        "import idp.store.sql",
        "from idp.store import sql",
        "from idp.store.sql import models as m",
        "from ..store.sql.database import Database",
        "from ..store import sql",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from idp.store.sql import x",
        "def f():\n    from idp.store.sql.candidates import index_person",
    ],
)
def test_the_layering_check_sees_every_shape_of_import(source: str) -> None:
    # The test above can fail: each way of writing the import is caught.
    assert _imports_sql_store(_imported_names(source, Path("idp/flows/example.py")))


def test_the_layering_check_lets_the_protocols_through() -> None:
    source = "from idp.store.durable import Database\nfrom idp.store.sqlite import x"
    assert not _imports_sql_store(_imported_names(source, Path("idp/flows/example.py")))
