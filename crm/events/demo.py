"""Demo events: a free film night, a paid benefit gig and the AGM with one motion open for votes.
`load_demo_events()` is idempotent (found by slug); crm/demo.py calls it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from crm.core.types import utcnow
from crm.events import agm, services
from crm.events.localtime import to_local
from crm.events.models import Booking, Event, Motion, MotionStatus

DEMO_EVENTS = [
    (
        "Film night: the long road home",
        9,
        0,
        0,
        40,
        "A documentary screening, then questions with the director.",
    ),
    ("Benefit gig", 16, 500, 800, 120, "Live music for the campaign. Members pay less."),
]
#: The Spanish versions Spanish readers see (an event without one falls back to the English).
DEMO_SPANISH = {
    "Film night: the long road home": (
        "Noche de cine: el largo camino a casa",
        "La proyección de un documental y, después, preguntas a la directora.",
    ),
    "Benefit gig": ("Concierto solidario", "Música en directo para la campaña. Los socios pagan menos."),
    "Annual General Meeting": (
        "Asamblea general anual",
        "Nuestra asamblea: informes, elecciones y mociones.",
    ),
}


def _event(title: str, days: int, member_price: int, other_price: int, capacity: int, text: str) -> Event:
    start = (utcnow() + timedelta(days=days)).replace(hour=18, minute=30, second=0, microsecond=0)
    title_es, text_es = DEMO_SPANISH.get(title, ("", ""))
    return services.save_event(None, services.EventData(
        title=title, description=text, starts_at=start, ends_at=start + timedelta(hours=2, minutes=30),
        place="Northgate Community Hall, 3 Example Road, London N7 0AA", online_link="", capacity=capacity,
        visibility="public", member_price=member_price, other_price=other_price, published=True,
        title_es=title_es, description_es=text_es))  # fmt: skip


def load_demo_events() -> int:
    """Add the demo events that are missing; returns how many were added (the caller commits)."""
    added = 0
    for title, *rest in DEMO_EVENTS:
        if db_has(title):
            continue
        _event(title, *rest)  # type: ignore[arg-type]  # DEMO_EVENTS rows are heterogeneous tuples
        added += 1
    if not db_has("Annual General Meeting"):
        event = _event("Annual General Meeting", 21, 0, 0, 0, "Our AGM: reports, elections and motions.")
        event.visibility = "members"
        meeting = agm.hold_agm(event)
        motion = Motion(meeting_id=meeting.event_id, title="Make land rights our campaign priority for 2027",
                        text_markdown="This AGM resolves that land rights be our **first** priority.",
                        text_html="<p>This AGM resolves that land rights be our <strong>first</strong> priority.</p>",
                        status=MotionStatus.ACCEPTED)  # fmt: skip
        from crm.extensions import db

        db.session.add(motion)
        db.session.flush()
        agm.translate_motion(motion, title_es="Que los derechos sobre la tierra sean nuestra prioridad en 2027",
                             text_es="Esta asamblea acuerda que los derechos sobre la tierra sean nuestra "
                                     "**primera** prioridad.")  # fmt: skip
        agm.publish_agenda(meeting)
        now = utcnow()
        # Online voting closes as the meeting opens (those who come vote in the room).
        agm.set_voting_window(meeting, opens_at=now, closes_at=event.starts_at,
                              record_date=to_local(now).date())  # fmt: skip
        added += 1
    _book_demo_places()
    return added


#: Who has booked the free film night in the demo, so staff see a check-in list with names.
DEMO_BOOKINGS = (
    ("member@example.org", ["Ana Torres", "Jo Lindqvist"]),
    ("monthly@example.org", ["Daniel Okafor"]),
    ("life@example.org", ["Lucía Mejía"]),
)


def _book_demo_places() -> None:
    """Book the demo's places through the booking rules (confirmations queued as for anyone)."""
    from crm.contacts.models import Contact
    from crm.extensions import db

    film = db.session.scalar(select(Event).where(Event.title == DEMO_EVENTS[0][0]))
    if film is None or db.session.scalar(select(Booking.id).where(Booking.event_id == film.id)):
        return
    for email, names in DEMO_BOOKINGS:
        contact_id = db.session.scalar(select(Contact.id).where(Contact.email == email))
        services.book(film, email=email, names=names, contact_id=contact_id, is_member=True)


def db_has(title: str) -> bool:
    from crm.extensions import db

    return db.session.scalar(select(Event.id).where(Event.title == title)) is not None
