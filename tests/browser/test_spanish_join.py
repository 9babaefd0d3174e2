"""Issue 23's "done when", walked in the browser: a supporter whose browser asks for Spanish reads
the home page in Spanish, joins and pays in Spanish, gets the welcome email in Spanish, switches
the members' area to English and reads an English post; staff find them by typing the surname
without its accents; a post staff schedule for 09:00 on a July day goes out at 09:00 London time.
The join and donate pages' Spanish errors are checked and photographed like every other page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.joining import NEW_PASSWORD, on_sandbox_checkout, pay, unique_email
from tests.browser.journey import Journey
from tests.browser.people import latest_email, link_in, make_staff, sign_in

SURNAME = "Peña Mejía"
ENGLISH_POST = "Members' briefing: ten years after the accord"
#: A Thursday in British Summer Time: 09:00 in London is 08:00 UTC.
JULY_DAY = "2027-07-15"


def test_a_spanish_browser_gets_the_join_and_donate_pages_in_spanish(journey: Journey) -> None:
    spanish = journey.other_browser("spanish", locale="es-ES")
    try:
        _join_and_donate_in_spanish(spanish)
    finally:
        spanish.close()


def test_a_spanish_supporter_joins_in_spanish_reads_in_english_and_staff_find_them_without_accents(
    journey: Journey, needs_sandbox: None
) -> None:
    supporter = journey.other_browser("spanish supporter", locale="es-ES")
    try:
        email = _join_and_pay_in_spanish(supporter)
        _set_password_from_the_spanish_welcome_email(supporter, email)
        _switch_to_english_and_read_a_post(supporter, email)
    finally:
        supporter.close()
    _staff_find_the_supporter_without_accents(journey, email)
    _staff_schedule_a_post_for_nine_on_a_july_day(journey)


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


def _join_and_pay_in_spanish(trip: Journey) -> str:
    page = trip.page
    email = unique_email("ines", trip)
    trip.goto("/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert trip.heading() == "Apoya a quienes defienden los derechos humanos en Serranía"
    trip.check("home page in Spanish")

    trip.follow(page.locator("main").get_by_role("link", name="Hazte socio").first)
    assert trip.heading() == "Hazte socio"
    page.get_by_role("radio", name=re.compile(r"Estándar \(anual\)")).check()  # the plan's Spanish name
    page.get_by_label("Nombre", exact=True).fill("Inés")
    page.get_by_label("Apellidos", exact=True).fill(SURNAME)
    page.get_by_label("Correo electrónico", exact=True).fill(email)
    page.get_by_label("Dirección (línea 1)").fill("12 Canal Street")
    page.get_by_label("Localidad o ciudad").fill("Manchester")
    page.get_by_label("Código postal").fill("m1 3he")
    page.get_by_label(re.compile("^Sí, quiero recibir noticias y novedades")).check()
    trip.check("join form filled in in Spanish")
    trip.follow(page.get_by_role("button", name="Continuar al pago"))

    on_sandbox_checkout(trip)
    pay(trip)
    assert "/join/success" in page.url, page.url
    welcome = "Te damos la bienvenida: ya eres socio"
    if trip.heading() != welcome:  # "confirming": the webhook settles it in a moment
        page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(welcome)
    trip.check("welcome page in Spanish")
    return email


def _set_password_from_the_spanish_welcome_email(trip: Journey, email: str) -> None:
    from crm.email.models import OutboxMessage

    body = latest_email(trip, email, "welcome")
    with trip.live.db() as session:
        subject = session.scalar(
            select(OutboxMessage.subject).where(
                OutboxMessage.to_email == email, OutboxMessage.kind == "welcome"
            )
        )
    assert subject is not None and subject.startswith("Te damos la bienvenida a "), subject
    assert "Hola, Inés:" in body and "Gracias por hacerte socio de " in body, body

    trip.goto(link_in(body, "/password/set/"))
    assert trip.page.locator("html").get_attribute("lang") == "es"
    trip.check("set password in Spanish")
    trip.page.get_by_label("Contraseña nueva", exact=True).fill(NEW_PASSWORD)
    trip.page.get_by_label("Confirma la contraseña nueva").fill(NEW_PASSWORD)
    trip.follow(trip.page.locator("main").get_by_role("button").first)
    trip.expect_success("Tu contraseña está guardada y ya has iniciado sesión.")
    assert trip.heading() == "Mi cuenta"
    trip.check("members' area in Spanish")


def _switch_to_english_and_read_a_post(trip: Journey, email: str) -> None:
    from crm.contacts.models import Contact

    page = trip.page
    trip.follow(page.get_by_role("banner").get_by_role("button", name="English"))
    assert page.locator("html").get_attribute("lang") == "en-GB"
    assert trip.heading() == "My account"
    trip.check("members' area switched to English")
    with trip.live.db() as session:  # the switch is also the language of their emails from now on
        assert session.scalar(select(Contact.preferred_language).where(Contact.email == email)) == "en"

    trip.goto("/news")
    trip.follow(page.get_by_role("link", name=ENGLISH_POST))
    expect(page.get_by_role("heading", level=1)).to_have_text(ENGLISH_POST)
    expect(page.get_by_text("This briefing is for members only.")).to_be_visible()
    expect(page.get_by_role("link", name="Informe para socios: diez años después del acuerdo")).to_have_count(
        0
    )
    trip.check("an English post")


def _staff_find_the_supporter_without_accents(staff: Journey, email: str) -> None:
    from crm.demo import DEMO_PASSWORD

    page = staff.page
    staff_email = unique_email("staff", staff)
    sign_in(staff, staff_email, DEMO_PASSWORD, totp_secret=make_staff(staff, staff_email, "admin"))
    staff.goto("/staff/members")
    page.get_by_label("Search").fill("pena mejia")
    staff.follow(page.get_by_role("button", name="Search"))
    # Every run of this journey adds an Inés Peña Mejía: hers is the row with her address.
    found = page.locator("tbody tr", has_text=email.split("@")[0])
    expect(found).to_have_count(1)
    expect(found.get_by_role("link")).to_have_text(f"{SURNAME}, Inés")
    staff.check("staff search without accents")
    staff.follow(found.get_by_role("link"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Inés {SURNAME}")
    # The consent she gave is shown to staff in the Spanish she read.
    expect(page.locator('q[lang="es"]').first).to_contain_text("Sí, quiero recibir noticias y novedades")
    staff.check("the supporter's record")


def _staff_schedule_a_post_for_nine_on_a_july_day(staff: Journey) -> None:
    from crm.extensions import db
    from crm.memberships.daily import daily_steps
    from crm.news.models import Post

    page = staff.page
    title = f"Summer speaker tour {uuid.uuid4().hex[:6]}"
    staff.goto("/staff/news/new")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Body", exact=True).fill("Our speakers from Valle Hondo visit six UK cities.")
    staff.follow(page.get_by_role("button", name="Save"))
    staff.expect_success("Saved")
    page.get_by_label("Publish on (date)").fill(JULY_DAY)
    page.get_by_label("At (UK time, 24-hour)").fill("09:00")
    staff.follow(page.get_by_role("button", name="Schedule"))
    staff.expect_success("will be published on 15 July 2027, 09:00 BST")
    staff.check("post scheduled for 09:00 in July")

    # The daily run's news step (what `crm daily` runs, on its own so that a July clock leaves
    # the other journeys' memberships alone), at a minute before and at 09:00 London time.
    publish = dict(daily_steps(staff.live.app))["posts_published"]
    nine_in_london = datetime(2027, 7, 15, 8, 0, tzinfo=UTC)
    with staff.live.db() as session:
        post_id = session.scalar(select(Post.id).where(Post.title == title))
        publish(datetime(2027, 7, 15, 7, 59, tzinfo=UTC))
        db.session.commit()
        assert session.get(Post, post_id).status == "scheduled"  # type: ignore[union-attr]
        publish(nine_in_london)
        db.session.commit()
        post = session.get(Post, post_id)
        assert post is not None and (post.status, post.published_at) == ("published", nine_in_london)

    page.reload()
    expect(page.locator("main")).to_contain_text("on 15 July 2027, 09:00 BST")
    staff.check("post published at 09:00 London time")
