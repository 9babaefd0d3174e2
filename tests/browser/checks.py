"""What every page a journey visits must pass: no console, page or CSP error, no request off this
machine, no horizontal overflow, every control reachable, and zero axe-core WCAG 2.2 A/AA violations.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Response

BROWSER_DIR = Path(__file__).resolve().parent
AXE_PATH = BROWSER_DIR / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = BROWSER_DIR.parent / "artifacts"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

#: Reports CSP violations as console errors, so a blocked script or style fails the test.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline')
    + ' at ' + event.sourceFile + ':' + event.lineNumber);
});
"""


@dataclass
class Watch:
    """Collects everything that went wrong in a browser context while a journey ran."""

    problems: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.add_init_script(CSP_LISTENER)
        context.on("request", self._on_request)
        context.on("page", self.attach_page)

    def attach_page(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error on {page.url}: {error}"))
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        # A failed load is reported (with its URL) by _on_response; the main document's status
        # is the journey's business (a 403 page can be the expected answer).
        if text.startswith("Failed to load resource"):
            return
        if message.type == "error" or text.startswith("Refused to"):
            self.problems.append(
                f"console {message.type} on {message.page.url if message.page else '?'}: {text}"
            )

    def _on_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about", "chrome-error"):
            return
        if parts.hostname not in LOOPBACK:
            self.problems.append(f"request to a non-loopback host: {request.url}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"{response.status} for {response.request.resource_type} {response.url}")

    def assert_clean(self) -> None:
        problems, self.problems = self.problems, []
        assert not problems, "the browser reported problems:\n  " + "\n  ".join(problems)


#: The innermost elements that stick out past the right edge of the screen.
OVERFLOWING = """
() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right <= width + 1 || r.width === 0) continue;
    if ([...el.children].some(c => c.getBoundingClientRect().right > width + 1)) continue;
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
    out.push(name + ' (right edge ' + Math.round(r.right) + ' px): ' + (el.textContent || '').trim().slice(0, 40));
    if (out.length >= 6) break;
  }
  return out;
}
"""


def check_no_overflow(page: Page, name: str, known_issue: str | None = None) -> None:
    """The page is no wider than the screen. A `known_issue` (reported, owned by someone else)
    turns a failure into a warning that every run shows, until it is fixed."""
    widths = page.evaluate("() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    if widths["scroll"] > widths["inner"]:
        culprits = page.evaluate(OVERFLOWING)
        message = (
            f"{name}: the page is wider than the screen ({widths['scroll']} px > {widths['inner']} px); "
            f"sticking out: {culprits}"
        )
        if known_issue:
            warnings.warn(f"KNOWN ISSUE ({known_issue}): {message}", stacklevel=2)
            return
        raise AssertionError(message)


#: Focuses each control in turn (which scrolls it, and any scrolling box around it, into view):
#: a control is unreachable when, focused, it still lies wholly outside the screen's width.
#: The skip link, off-screen until focused, is therefore fine.
UNREACHABLE_CONTROLS = """
() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
  const out = [];
  const width = window.innerWidth;
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled) continue;
    el.focus({preventScroll: false});
    if (document.activeElement !== el) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 && r.height <= 1) continue;
    if (r.right <= 0 || r.left >= width) {
      out.push((el.id ? '#' + el.id : el.tagName.toLowerCase()) + ' "' + (el.innerText || el.value || el.name || '').trim().slice(0, 40)
        + '" at ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  if (document.activeElement) document.activeElement.blur();
  window.scrollTo(0, 0);
  return out;
}
"""


def check_controls_reachable(page: Page, name: str) -> None:
    outside = page.evaluate(UNREACHABLE_CONTROLS)
    assert not outside, f"{name}: controls outside the screen's width: {outside}"


_axe_source: str | None = None


def check_a11y(page: Page, name: str, known: dict[str, str] | None = None) -> None:
    """Run axe-core's WCAG 2.0/2.1/2.2 A and AA rules on the page: zero violations allowed.

    `known` maps a rule id to a reported issue in code this suite does not own: that rule's
    violations become a warning every run shows, until it is fixed.

    axe is evaluated through the DevTools protocol, which the page's CSP (script-src 'self')
    does not govern, so the page keeps its real CSP while it is checked.
    """
    global _axe_source
    if _axe_source is None:
        _axe_source = AXE_PATH.read_text(encoding="utf-8")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source)
    result = page.evaluate(
        """async (tags) => {
          const r = await window.axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\\s+/g, ' '))}));
        }""",
        AXE_TAGS,
    )
    known = known or {}
    for violation in [v for v in result if v["id"] in known]:
        warnings.warn(
            f"KNOWN ISSUE ({known[violation['id']]}): {name}: {violation['id']} at {violation['targets']}",
            stacklevel=2,
        )
    result = [v for v in result if v["id"] not in known]
    if result:
        lines = [f"{name} ({page.url}): {len(result)} accessibility violation(s)"]
        for violation in result:
            lines.append(f"- {violation['id']} [{violation['impact']}]: {violation['help']}")
            lines.extend(f"    {target}" for target in violation["targets"])
        raise AssertionError("\n".join(lines))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]
