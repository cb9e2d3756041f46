"""Every page a browser test visits is audited (issue 14, item 6): axe-core reports no
violation, nothing scrolls sideways at the test's width (320 px unless a test asks for
another), and buttons, inputs, nav links, switches and links standing alone are at
least 44 x 44 px (WCAG 2.5.8 excepts links inside a sentence).

How: every context a test opens (through ``tests.browser.conftest.chromium``) carries
axe-core and a small runner as init scripts. The runner tells :class:`PageAudit` when
a page is parsed, and once it has loaded runs axe and the layout checks in the page and
hands the result back. Only our server's documents count (HTML with our CSP; not the
test portals, not the browser's error pages). A navigation away from our page while
its audit runs is held until the audit is done (Playwright cancels an ``evaluate``
once a navigation starts, so the audit runs in the page, not from here): no page is
missed and none is audited half-loaded. A test's teardown fails listing
what was found, per URL. Contexts without JavaScript are not audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Error, Page, Response, Route

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_MISSING = "axe-core is missing: run `make axe` (npm ci --prefix tests/browser/axe)"
PHONE_WIDTH = 320
PHONE_HEIGHT = 640
MIN_TARGET = 44

# Measured in the page: sideways scrolling and the interactive elements under 44 x 44 px.
# A link counts as standing alone when its block holds no other text (a sentence's link
# is excepted by WCAG 2.5.8). Hidden and disabled elements are not targets.
_LAYOUT_JS = """
(min) => {
  const root = document.documentElement;
  const small = [];
  const describe = (el) => {
    const named = el.getAttribute('name');
    const name = el.id ? '#' + el.id : (named ? '[name=' + named + ']' : '');
    const text = (el.innerText || el.value || '').trim().slice(0, 30);
    return el.tagName.toLowerCase() + name + (text ? ' "' + text + '"' : '');
  };
  const standalone = (a) => {
    const block = a.closest('p, li, td, th, dd, dt, div, nav, main, header, footer, section');
    return block !== null && block.innerText.trim() === a.innerText.trim();
  };
  const targets = document.querySelectorAll(
    'button, input:not([type=hidden]), select, textarea, summary, [role=switch], a[href]');
  for (const el of targets) {
    if (el.disabled || el.closest('[hidden], details:not([open]) > :not(summary)')) continue;
    if (el.tagName === 'A' && !el.closest('nav') && !standalone(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      small.push(describe(el) + ' ' + Math.round(box.width) + 'x' + Math.round(box.height));
    }
  }
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, small: small};
}
"""

# axe refuses a second run while one is going ("Axe is already running"): a test's own
# check and the page's automatic audit can meet on one page, so each waits its turn.
_AXE_RUN_JS = """
async () => {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      return (await window.axe.run(document)).violations;
    } catch (e) {
      if (!String(e).includes('already running')) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error('axe stayed busy for 10 s');
}
"""

# Runs in every document after axe's own source: once loaded, ask whether to audit,
# audit, report. Errors are reported too, so a held navigation is always released.
_RUNNER_JS = """
if (window.top === window && window.__pageAudit) {
  const layout = %(layout)s;
  document.addEventListener('DOMContentLoaded', () => {
    window.__pageAudit({stage: 'start', url: location.href});
  });
  window.addEventListener('load', async () => {
    let report;
    try {
      const axeResult = window.axe ? await (%(axe_run)s)() : [];
      const violations = axeResult.map((v) => ({
        id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target)}));
      report = {stage: 'done', violations, layout: layout(%(min)d)};
    } catch (e) {
      report = {stage: 'done', error: String(e)};
    }
    await window.__pageAudit(report);
  });
}
"""


def axe_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's violations on the page as it stands (its default rules, WCAG 2.x A/AA).

    Injected as a script tag: the context must bypass our CSP (``bypass_csp=True``),
    which refuses inline scripts."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(_AXE_RUN_JS)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result
    ]


def layout_problems(found: dict[str, Any]) -> list[str]:
    """Sideways scrolling and too-small targets, from the runner's measurements."""
    problems = []
    if found["scrollWidth"] > found["clientWidth"]:
        problems.append(
            f"scrolls sideways: {found['scrollWidth']} px of content in {found['clientWidth']} px"
        )
    problems += [f"target under {MIN_TARGET} px: {item}" for item in found["small"]]
    return problems


def served_by_us(response: Response) -> bool:
    """Whether a document comes from our server: an HTML page with our Content-Security-
    Policy (the test portals and the browser's own pages send none)."""
    headers = response.headers
    return headers.get("content-type", "").startswith("text/html") and (
        "content-security-policy" in headers
    )


@dataclass
class PageAudit:
    """Audits every page of our server that the contexts it watches show.

    ``findings`` maps a URL to what was wrong there; ``audited`` lists every URL checked,
    so a test can tell the audit ran."""

    axe: bool = True
    findings: dict[str, list[str]] = field(default_factory=dict)
    audited: list[str] = field(default_factory=list)
    _ours: dict[int, str | None] = field(default_factory=dict)  # page: its document's URL
    _busy: set[int] = field(default_factory=set)
    _held: dict[int, list[Route]] = field(default_factory=dict)

    def _reported(self, source: dict[str, Any], payload: dict[str, Any]) -> None:
        """The runner's calls: ``start`` (the page is parsed: hold its navigations if it
        is ours) and ``done`` (its result; releases them)."""
        page, frame = source["page"], source["frame"]
        if frame != page.main_frame:
            return
        if payload["stage"] == "start":
            if payload["url"].split("#")[0] == self._ours.get(id(page)):
                self._busy.add(id(page))
            return
        if id(page) not in self._busy:
            return
        try:
            url = frame.url
            if "error" in payload:
                problems = [f"the audit failed: {payload['error']}"]
            else:
                problems = [
                    f"axe {v['id']} ({v['impact']}): {v['nodes']}" for v in payload["violations"]
                ]
                problems += layout_problems(payload["layout"])
            self.audited.append(url)
            if problems:
                self.findings.setdefault(url, []).extend(problems)
        finally:
            self._release(page)

    def _release(self, page: Page) -> None:
        self._busy.discard(id(page))
        for route in self._held.pop(id(page), []):
            route.continue_()

    def _before_navigation(self, route: Route) -> None:
        """Hold a page's navigation while its audit runs, so none is cut short."""
        request = route.request
        try:
            page = request.frame.page
        except Error:  # a service worker's request: no page to hold
            route.continue_()
            return
        if request.is_navigation_request() and id(page) in self._busy:
            self._held.setdefault(id(page), []).append(route)
        else:
            route.continue_()

    def _document_arrived(self, response: Response) -> None:
        request = response.request
        if not request.is_navigation_request() or 300 <= response.status < 400:
            return
        if "attachment" in response.headers.get("content-disposition", ""):
            return  # a download: the page stays as it was
        try:
            frame = request.frame
        except Error:
            return
        if frame.parent_frame is None:
            # A new document: the one before is gone, with any audit it was running.
            self._release(frame.page)
            self._ours[id(frame.page)] = response.url if served_by_us(response) else None

    def watch(self, context: BrowserContext) -> None:
        """Audit each loaded page of ``context``; on close, wait for audits still running."""
        if self.axe:
            context.add_init_script(path=str(AXE))
        context.add_init_script(
            script=_RUNNER_JS % {"layout": _LAYOUT_JS, "min": MIN_TARGET, "axe_run": _AXE_RUN_JS}
        )
        context.expose_binding("__pageAudit", self._reported)
        context.on("response", self._document_arrived)
        context.route("**/*", self._before_navigation)
        close = context.close

        def wait_then_close(**kwargs: Any) -> None:
            for page in context.pages:
                for _ in range(600):  # at most 30 s
                    if id(page) not in self._busy or page.is_closed():
                        break
                    page.wait_for_timeout(50)
            close(**kwargs)

        context.close = wait_then_close  # type: ignore[method-assign]

    def report(self) -> str:
        lines = []
        for url, problems in self.findings.items():
            lines.append(url)
            lines += [f"  - {p}" for p in problems]
        return "\n".join(lines)


def audited_browser(browser: Browser, audits: Callable[[], PageAudit | None]) -> Browser:
    """``browser`` whose new contexts are phone-sized, bypass our CSP (to inject axe) and
    are watched by the current test's audit (``audits()``; None: not watched)."""
    new_context = browser.new_context

    def new_audited_context(**kwargs: Any) -> BrowserContext:
        kwargs.setdefault("viewport", {"width": PHONE_WIDTH, "height": PHONE_HEIGHT})
        kwargs.setdefault("bypass_csp", True)
        context = new_context(**kwargs)
        audit = audits()
        if audit is not None and kwargs.get("java_script_enabled", True):
            audit.watch(context)
        return context

    browser.new_context = new_audited_context  # type: ignore[method-assign]
    return browser
