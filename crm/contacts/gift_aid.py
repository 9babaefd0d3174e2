"""The Gift Aid declaration's words: one text for the join, donate and account pages, shown and
recorded in the language the supporter reads (`GiftAidDeclaration.wording` and `.language`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from crm.contacts.consent import shown_in

#: HMRC's model enduring declaration (this and future donations, and the past 4 years).
_DECLARATION = _l(
    "I want to Gift Aid my donation and any donations I make in the future or have made in the "
    "past 4 years to %(org)s. I am a UK taxpayer and understand that if I pay less Income Tax and/or "
    "Capital Gains Tax than the amount of Gift Aid claimed on all my donations in that tax year it "
    "is my responsibility to pay any difference."
)


def gift_aid_wording(org: str, language: str | None = None) -> str:
    """The declaration as shown beside the Gift Aid box, in `language` (None: the page's)."""
    with shown_in(language):
        return str(_DECLARATION) % {"org": org}
