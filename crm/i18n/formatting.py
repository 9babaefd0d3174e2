"""Dates, times, money and numbers as a reader of the page's language expects, on the UK clock.

Times are stored in UTC; every time a person sees is converted to the `TIMEZONE` setting (default
Europe/London), and every time a person types is read in it (`local_to_utc`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import format_currency, format_decimal
from flask import Flask, current_app, has_app_context

from crm.core.languages import DEFAULT_LANGUAGE, normalise_language
from crm.core.money import SYMBOLS

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "translations"
DEFAULT_TIMEZONE = "Europe/London"
#: The regional variant each language's numbers and dates follow (a UK organisation).
_FORMAT_LOCALES = {"en": "en_GB", "es": "es_ES"}


def _language() -> str:
    from flask_babel import get_locale

    try:
        locale = get_locale()
    except (RuntimeError, KeyError):  # outside a request or app context
        locale = None
    return normalise_language(locale.language if locale else None) or DEFAULT_LANGUAGE


@lru_cache(maxsize=8)
def _months(language: str) -> tuple[str, ...]:
    wide = Locale.parse(_FORMAT_LOCALES[language]).months["format"]["wide"]
    return tuple(wide[number] for number in range(1, 13))


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_zone() -> ZoneInfo:
    """The organisation's clock (`TIMEZONE`)."""
    name = current_app.config.get("TIMEZONE") if has_app_context() else None
    return _zone(str(name or DEFAULT_TIMEZONE))


def to_local(value: datetime) -> datetime:
    """A stored (UTC, aware) time on the organisation's clock."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(local_zone())


def local_to_utc(value: datetime) -> datetime:
    """A time a person typed (naive, on the organisation's clock) as a UTC time to store.

    A time that does not exist (in the hour the clocks go forward) is read as the time after the
    change; one that happens twice (the hour the clocks go back) as the first of the two.
    """
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    # fold=0: the offset in force before the change, which reads 01:30 on the spring morning as
    # 02:30 BST, and the autumn's repeated 01:30 as the first (BST) one.
    return value.replace(tzinfo=local_zone(), fold=0).astimezone(UTC)


def local_input_value(value: datetime | None) -> str:
    """A stored time as a `datetime-local` input shows it (local, minutes)."""
    return to_local(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def format_date(value: date | datetime | None) -> str:
    """'6 December 2026' / '6 de diciembre de 2026' (a datetime on the local clock)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value)
    language = _language()
    month = _months(language)[value.month - 1]
    if language == "es":
        return f"{value.day} de {month} de {value.year}"
    return f"{value.day} {month} {value.year}"


def format_time(value: datetime | time | None) -> str:
    """'09:00 GMT' / '10:00 BST': the local time with its zone, so nobody guesses."""
    if value is None:
        return ""
    if isinstance(value, time):
        return f"{value:%H:%M}"
    local = to_local(value)
    return f"{local:%H:%M} {local.tzname()}"


def format_datetime(value: datetime | None) -> str:
    """'6 December 2026, 09:00 GMT' on the organisation's clock."""
    if value is None:
        return ""
    return f"{format_date(value)}, {format_time(value)}"


def format_money(amount: int | None, currency: str = "gbp") -> str:
    """Integer minor units as money in the page's language: '£1,234.50' / '1234,50 £'."""
    if amount is None:
        return ""
    code = (currency or "gbp").upper()
    value = Decimal(int(amount)) / 100
    language = _language()
    if language == "en":
        return format_currency(value, code, locale=_FORMAT_LOCALES[language])
    # Spanish CLDR writes "GBP" for the pound; Spanish readers in the UK write "36,00 £".
    symbol = SYMBOLS.get(code.lower(), code)
    return f"{format_decimal(value, format='#,##0.00', locale=_FORMAT_LOCALES[language])}\u00a0{symbol}"


def format_number(value: int | float | Decimal | None) -> str:
    """'12,345' / '12.345'."""
    if value is None:
        return ""
    return format_decimal(value, locale=_FORMAT_LOCALES[_language()])


def init_app(app: Flask) -> None:
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["time"] = format_time
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["local_input"] = local_input_value
