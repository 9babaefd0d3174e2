"""The languages the site speaks now live in crm/core/languages.py (plain values every floor may
import, contacts included). This name stays for crm/staff/import_service.py, which w-archB is
splitting; delete it once nothing imports it."""

from crm.core.languages import (  # noqa: F401
    DEFAULT_LANGUAGE,
    LANGUAGE_COOKIE,
    LANGUAGE_COOKIE_MAX_AGE,
    LANGUAGE_NAMES,
    LANGUAGES,
    language_from_text,
    normalise_language,
)
