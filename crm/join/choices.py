"""The fixed choices of the join forms (and the members' details form): countries and titles."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

#: ISO 3166 codes offered on the forms (the UK first); a tampered value is refused.
COUNTRIES = [
    SelectChoice("GB", _l("United Kingdom")),
    SelectChoice("IE", _l("Ireland")),
    SelectChoice("AU", _l("Australia")),
    SelectChoice("AT", _l("Austria")),
    SelectChoice("BE", _l("Belgium")),
    SelectChoice("CA", _l("Canada")),
    SelectChoice("CO", _l("Colombia")),
    SelectChoice("DK", _l("Denmark")),
    SelectChoice("FI", _l("Finland")),
    SelectChoice("FR", _l("France")),
    SelectChoice("DE", _l("Germany")),
    SelectChoice("GR", _l("Greece")),
    SelectChoice("IT", _l("Italy")),
    SelectChoice("NL", _l("Netherlands")),
    SelectChoice("NZ", _l("New Zealand")),
    SelectChoice("NO", _l("Norway")),
    SelectChoice("PL", _l("Poland")),
    SelectChoice("PT", _l("Portugal")),
    SelectChoice("ES", _l("Spain")),
    SelectChoice("SE", _l("Sweden")),
    SelectChoice("CH", _l("Switzerland")),
    SelectChoice("US", _l("United States")),
]
TITLES = ["", "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Rev"]
