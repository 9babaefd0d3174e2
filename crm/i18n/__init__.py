"""Languages and local time: which language a page or email is in, and the filters that show
dates, times, money and numbers the way a reader of that language and the UK clock expects.

The language of a request, in order: the reader's explicit choice (the switch on every page,
kept in the `lang` cookie), the signed-in contact's preferred language, the browser's
Accept-Language, then English. An email to a contact is rendered in their preferred language
(`crm.email.services.render_email` calls `contact_locale`).
"""

from __future__ import annotations

from babel import Locale
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, refresh

from crm.core.languages import (
    DEFAULT_LANGUAGE,
    LANGUAGE_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    normalise_language,
)
from crm.i18n import formatting

babel = Babel()

#: Where the signed-in user's preferred language is remembered (user id, language), so a page
#: does not read the contact row on every request.
_PREFERENCE_KEY = "lang_pref"


#: Each language's Babel `Locale`, parsed once: Flask-Babel parses what the selector returns on
#: every request, unless it is a `Locale` already.
_LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


def select_locale() -> Locale:
    """The language of this request (see the module docstring for the order); English outside
    a request (commands, jobs) unless an email is being rendered for someone."""
    return _LOCALES[_request_language()]


def _request_language() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = normalise_language(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    preferred = _signed_in_preference()
    if preferred:
        return preferred
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def _signed_in_preference() -> str | None:
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        return None
    remembered = session.get(_PREFERENCE_KEY)
    if isinstance(remembered, list) and len(remembered) == 2 and remembered[0] == current_user.id:
        return normalise_language(remembered[1])
    language = normalise_language(current_user.contact.preferred_language)
    session[_PREFERENCE_KEY] = [current_user.id, language or ""]
    return language


def forget_signed_in_preference() -> None:
    """Call after the signed-in contact's preferred language changes."""
    session.pop(_PREFERENCE_KEY, None)


def select_timezone() -> str:
    return str(current_app.config.get("TIMEZONE") or "Europe/London")


def current_language() -> str:
    """The language this request or email is rendered in ('en' or 'es')."""
    from flask_babel import get_locale

    locale = get_locale()
    return normalise_language(locale.language if locale else None) or DEFAULT_LANGUAGE


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(formatting.TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    formatting.init_app(app)
    from crm.core import templating

    templating.vary_shared_pages_by_language(app, current_language)
    templating.register_formatters(
        app, format_date=formatting.format_date, format_datetime=formatting.format_datetime
    )
    from crm.i18n.content import in_current_language, localised, localised_text

    app.jinja_env.filters["in_language"] = in_current_language
    app.jinja_env.filters["localised"] = localised
    app.jinja_env.globals["localised_text"] = localised_text

    # Flask-Babel keeps the locale on `g`, which outlives a request when an app context was
    # already pushed (commands, tests): each request works its language out afresh.
    app.before_request(refresh)

    from crm.i18n.routes import bp

    app.register_blueprint(bp)

    @app.context_processor
    def inject_language() -> dict[str, object]:
        return {
            "current_language": current_language,
            "languages": LANGUAGES,
            "language_names": LANGUAGE_NAMES,
        }
