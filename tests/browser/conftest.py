"""Browser fixtures: the live provider (shared with tests/e2e) and headless Chromium.

Every page a browser test visits on our server is audited (tests/browser/audit.py):
axe-core, no sideways scrolling at 320 px, 44 px targets; the test fails listing what
was found.

Chromium is Debian's (/usr/bin/chromium, `apt-get install -y chromium`); Playwright's
own browser downloads are never used. Without it the browser tests are skipped,
unless IDP_REQUIRE_BROWSER=1 (CI), where they fail and say what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.conftest import live  # noqa: F401 - the same live-provider fixture

from .audit import AXE, AXE_MISSING, PageAudit, audited_browser

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MISSING = (
    f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium` "
    "(never `playwright install`)"
)


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def browser_required() -> bool:
    return os.environ.get("IDP_REQUIRE_BROWSER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip browser tests up front (before any server starts) when Chromium is absent."""
    if chromium_available() or browser_required():
        return
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


# The audit of the test running now; contexts opened during it report to it.
_current: list[PageAudit] = []


@pytest.fixture(autouse=True)
def page_audit() -> Iterator[PageAudit]:
    """The audit of every page this test visits; fails the test (at teardown) listing
    each URL and what is wrong there."""
    if not AXE.exists() and browser_required():
        pytest.fail(AXE_MISSING, pytrace=False)
    audit = PageAudit(axe=AXE.exists())
    _current.append(audit)
    try:
        yield audit
    finally:
        _current.remove(audit)
    fail_on_findings(audit)


def fail_on_findings(audit: PageAudit) -> None:
    if audit.findings:
        pytest.fail("pages that fail the audit:\n" + audit.report(), pytrace=False)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Launch headless Chromium, its contexts phone-sized (320 px) and audited; fails the
    calling test (not an error) when it is missing."""
    if not chromium_available():
        pytest.fail(f"IDP_REQUIRE_BROWSER=1 but {MISSING}", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield audited_browser(browser, lambda: _current[-1] if _current else None)
        finally:
            browser.close()
