"""A supporter whose browser asks for Spanish gets the join and donate pages, and the join form's
errors, in Spanish, checked and photographed like every other page."""

from __future__ import annotations

from tests.browser.journey import Journey


def test_a_spanish_browser_gets_the_join_and_donate_pages_in_spanish(journey: Journey) -> None:
    spanish = journey.other_browser("spanish", locale="es-ES")
    try:
        _join_and_donate_in_spanish(spanish)
    finally:
        spanish.close()


def _join_and_donate_in_spanish(journey: Journey) -> None:
    journey.goto("/join")
    assert journey.heading() == "Hazte socio"
    assert journey.page.locator("html").get_attribute("lang") == "es"
    assert "al año, se renueva automáticamente" in journey.text()
    journey.check("join in Spanish")

    journey.follow(journey.page.get_by_role("button", name="Continuar al pago"))
    summary = journey.page.locator(".error-summary")
    assert "Escribe tu nombre." in summary.inner_text()
    assert "Elige un tipo de afiliación." in summary.inner_text()
    journey.check("join errors in Spanish")

    journey.goto("/donate")
    assert journey.heading() == "Haz un donativo"
    journey.check("donate in Spanish")
