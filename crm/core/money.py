"""Money is an integer number of minor units everywhere; these helpers parse and show it."""

from __future__ import annotations

import re

SYMBOLS = {"gbp": "£", "eur": "€", "usd": "$"}
_AMOUNT = re.compile(r"^\s*[£€$]?\s*(\d{1,7})(?:\.(\d{1,2}))?\s*$")


def format_money(amount: int | None, currency: str = "gbp") -> str:
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    amount = abs(int(amount))
    symbol = SYMBOLS.get((currency or "gbp").lower(), (currency or "").upper() + " ")
    return f"{sign}{symbol}{amount // 100:,}.{amount % 100:02d}"


def parse_money(text: str | None) -> int | None:
    """'12', '12.5', '£12.50' -> minor units; anything else (negative, 3 decimals, words) -> None."""
    if text is None:
        return None
    match = _AMOUNT.match(str(text))
    if not match:
        return None
    pounds, pence = match.group(1), (match.group(2) or "0").ljust(2, "0")
    return int(pounds) * 100 + int(pence)
