"""The audit that every browser test runs on every page (tests/browser/audit.py) can
fail: deliberately bad pages, served the way our server serves them, are reported
with axe's rule, the sideways scroll and the small target; pages of other servers are
left alone; and a test whose audit found something fails, listing the URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from .audit import AXE, PHONE_WIDTH, PageAudit, axe_violations
from .conftest import CHROMIUM, LAUNCH_ARGS, chromium_available, fail_on_findings

pytestmark = [pytest.mark.browser]

GOOD = (
    '<!doctype html><html lang="en"><head><meta name="viewport" '
    'content="width=device-width, initial-scale=1"><title>Fine</title></head><body>'
    '<main><h1>Fine</h1><p><a href="/bad">A link in a sentence</a> is excepted.</p>'
    '<form><label for="x">Name</label><input id="x" style="min-height:44px;width:100%">'
    '<button style="min-height:44px;min-width:44px">Go</button></form></main></body></html>'
)
# A nameless button (axe button-name), too small, and a table wider than a phone.
BAD = (
    '<!doctype html><html lang="en"><head><meta name="viewport" '
    'content="width=device-width, initial-scale=1"><title>Bad</title></head><body>'
    '<main><h1>Bad</h1><button id="tiny" style="width:20px;height:20px"></button>'
    '<div style="width:400px">wide</div><p><a href="/foreign">Elsewhere</a></p></main>'
    "</body></html>"
)
CSP = "default-src 'self'; style-src 'unsafe-inline'"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """/good and /bad as our server sends pages (HTML with a CSP); /foreign without one."""

    def app(environ: dict[str, object], start_response: object) -> object:
        path = Request(environ).path
        html = GOOD if path == "/good" else BAD
        headers = {} if path == "/foreign" else {"Content-Security-Policy": CSP}
        return Response(html, mimetype="text/html", headers=headers)(environ, start_response)  # type: ignore[arg-type]

    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def raw_browser() -> Iterator[Browser]:
    """Chromium without the suite's own audit, so that this test's bad pages are
    reported to the audit under test only."""
    if not chromium_available():
        pytest.skip("no Chromium")
    if not AXE.exists():
        pytest.skip("no axe-core (make axe)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def visit(browser: Browser, audit: PageAudit, *paths_and_clicks: str) -> None:
    context = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 640})
    audit.watch(context)
    page = context.new_page()
    for step in paths_and_clicks:
        if step.startswith("http"):
            page.goto(step)
        else:
            page.get_by_role("link", name=step).click()
            page.wait_for_load_state()
    context.close()


def test_a_bad_page_of_ours_is_reported_with_every_problem(raw_browser: Browser, site: str) -> None:
    audit = PageAudit()
    # Audited before the click takes the page away (the link leads to a foreign page).
    visit(raw_browser, audit, site + "/bad", "Elsewhere")
    assert list(audit.findings) == [site + "/bad"], audit.report()
    problems = "\n".join(audit.findings[site + "/bad"])
    assert "axe button-name (critical)" in problems
    assert "scrolls sideways" in problems
    assert "target under 44 px: button#tiny 20x20" in problems
    assert audit.audited == [site + "/bad"]  # the foreign page is not ours to judge


def test_a_good_page_passes_and_the_last_page_is_audited_on_close(
    raw_browser: Browser, site: str
) -> None:
    audit = PageAudit()
    visit(raw_browser, audit, site + "/good", site + "/bad")
    assert audit.audited == [site + "/good", site + "/bad"]
    assert list(audit.findings) == [site + "/bad"]


def test_a_test_whose_audit_found_something_fails_naming_the_url(
    raw_browser: Browser, site: str
) -> None:
    audit = PageAudit()
    visit(raw_browser, audit, site + "/good")
    fail_on_findings(audit)  # nothing found: passes
    visit(raw_browser, audit, site + "/bad")
    with pytest.raises(pytest.fail.Exception, match=r"/bad\n  - axe button-name"):
        fail_on_findings(audit)


def test_a_tests_own_axe_check_waits_for_a_run_already_going(
    raw_browser: Browser, site: str
) -> None:
    """axe refuses a second run while one is going; a test's own check met the page's
    automatic audit on one page in CI ("Axe is already running")."""
    context = raw_browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(site + "/bad")
    page.add_script_tag(path=str(AXE))
    # Runs back to back for a while, left going: the check below lands on one of them.
    page.evaluate(
        "() => { window.__busy = (async () => {"
        " for (let i = 0; i < 40; i++) { await axe.run(document).catch(() => null); }"
        " })(); }"
    )
    ids = {v["id"] for v in axe_violations(page)}
    context.close()
    assert "button-name" in ids
