"""The join journey with the keyboard alone: Tab to move, Space to tick, Enter to go. Every control
is reached and the focused control is always visibly marked."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.joining import see_welcome, unique_email
from tests.browser.journey import Journey

#: What the focused element is, and whether its focus is visible (an outline or a box-shadow).
FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const cs = getComputedStyle(el);
  const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0;
  const shadow = cs.boxShadow && cs.boxShadow !== 'none';
  const key = el.type === 'radio' ? 'radio:' + el.name : (el.id ? '#' + el.id : el.tagName.toLowerCase() + ':' + (el.getAttribute('href') || el.textContent.trim()));
  return {key, id: el.id, tag: el.tagName.toLowerCase(), type: el.type || '', text: (el.textContent || '').trim().slice(0, 60),
          visible: outline || shadow};
}
"""

#: Every control a keyboard user must be able to reach, named like FOCUSED names them.
CONTROLS = """
() => {
  const out = new Set();
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')) {
    if (el.disabled || el.closest('[hidden]') || getComputedStyle(el).visibility === 'hidden') continue;
    const key = el.type === 'radio' ? 'radio:' + el.name : (el.id ? '#' + el.id : el.tagName.toLowerCase() + ':' + (el.getAttribute('href') || el.textContent.trim()));
    out.add(key);
  }
  return [...out];
}
"""


def _tab(page: Page, seen: list[str]) -> dict[str, object]:
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused is not None, "Tab left the page's controls"
    assert focused["visible"], f"no visible focus on {focused['key']} ({focused['text']!r}) at {page.url}"
    seen.append(str(focused["key"]))
    return focused


def _tab_to(page: Page, seen: list[str], wanted: str, limit: int = 80) -> dict[str, object]:
    for _ in range(limit):
        focused = _tab(page, seen)
        if wanted in (focused["key"], focused["id"], focused["text"]):
            return focused
    raise AssertionError(f"Tab never reached {wanted!r}; reached {seen}")


def _tab_round(page: Page) -> set[str]:
    """Tab from the top of the page (reloaded, so focus starts afresh) through every stop."""
    page.reload()
    page.wait_for_load_state("load")
    seen: list[str] = []
    first = _tab(page, seen)
    for _ in range(200):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or focused["key"] == first["key"]:
            break
        assert focused["visible"], f"no visible focus on {focused['key']} ({focused['text']!r})"
        seen.append(str(focused["key"]))
    return set(seen)


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_join_with_the_keyboard_alone(journey: Journey, needs_sandbox: None) -> None:
    trip, page = journey, journey.page
    email = unique_email("keys", trip)
    trip.goto("/")

    seen: list[str] = []
    skip = _tab(page, seen)
    assert skip["text"] == "Skip to main content"
    missing = set(page.evaluate(CONTROLS)) - _tab_round(page)
    assert not missing, f"home page controls Tab never reaches: {missing}"

    page.reload()
    seen = []
    _tab(page, seen)  # the skip link
    page.keyboard.press("Enter")  # to the main content
    focused = _tab_to(page, seen, "Become a member")
    assert focused["tag"] == "a"
    trip.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Become a member")
    trip.check("join form (keyboard)")

    missing = set(page.evaluate(CONTROLS)) - _tab_round(page)
    assert not missing, f"join form controls Tab never reaches: {missing}"

    # Fill the form: Tab to each field and type; Space picks the plan and ticks Gift Aid.
    page.reload()
    seen = []
    _tab(page, seen)
    page.keyboard.press("Enter")  # skip to main
    _tab_to(page, seen, "radio:plan")
    page.keyboard.press("Space")
    assert page.evaluate("() => document.activeElement.checked")
    typed = {
        "first_name": "Kemi",
        "last_name": "Adeyemi",
        "email": email,
        "address_line1": "3 Mill Lane",
        "town": "Leeds",
        "postcode": "LS1 4AP",
    }
    for field_id, value in typed.items():
        _tab_to(page, seen, field_id)
        page.keyboard.type(value)
    _tab_to(page, seen, "gift_aid")
    page.keyboard.press("Space")
    assert page.evaluate("() => document.activeElement.checked")
    _tab_to(page, seen, "Continue to payment")
    trip.press("Enter")

    assert trip.live.sandbox_url and page.url.startswith(trip.live.sandbox_url), page.url
    trip.screenshot("sandbox checkout (keyboard)")
    seen = []
    _tab_to(page, seen, "Pay")
    trip.press("Enter")
    see_welcome(trip)
    missing = set(page.evaluate(CONTROLS)) - _tab_round(page)
    assert not missing, f"welcome page controls Tab never reaches: {missing}"
