"""A "did you mean ...?" for the email domains people most often mistype (no lookup, no dependency)."""

from __future__ import annotations

#: Mistyped domain -> the domain almost certainly meant.
DOMAIN_TYPOS = {
    "gmial.com": "gmail.com",
    "gmai.com": "gmail.com",
    "gamil.com": "gmail.com",
    "gnail.com": "gmail.com",
    "gmaill.com": "gmail.com",
    "gmail.co": "gmail.com",
    "gmail.cm": "gmail.com",
    "googlemail.co": "googlemail.com",
    "hotmial.com": "hotmail.com",
    "hotmal.com": "hotmail.com",
    "hotamil.com": "hotmail.com",
    "hotmail.co": "hotmail.co.uk",
    "hotmial.co.uk": "hotmail.co.uk",
    "yaho.com": "yahoo.com",
    "yahooo.com": "yahoo.com",
    "yahoo.co": "yahoo.co.uk",
    "yaho.co.uk": "yahoo.co.uk",
    "outlok.com": "outlook.com",
    "outllok.com": "outlook.com",
    "outlook.co": "outlook.com",
    "iclod.com": "icloud.com",
    "icloud.co": "icloud.com",
    "btinternet.co": "btinternet.com",
    "btinternt.com": "btinternet.com",
}

#: Mistyped endings, tried after the table: "gmail.con" -> "gmail.com".
ENDING_TYPOS = {".con": ".com", ".cmo": ".com", ".ocm": ".com", ".co.uj": ".co.uk", ".co,uk": ".co.uk"}


def suggest_email(email: str) -> str | None:
    """The address probably meant, when its domain is a known slip of the keyboard; else None."""
    local, at, domain = (email or "").strip().lower().rpartition("@")
    if not at or not local or not domain:
        return None
    fixed = domain
    for wrong, right in ENDING_TYPOS.items():
        if fixed.endswith(wrong):
            fixed = fixed[: -len(wrong)] + right
            break
    fixed = DOMAIN_TYPOS.get(fixed, fixed)
    return f"{local}@{fixed}" if fixed != domain else None
