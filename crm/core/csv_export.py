"""CSV for spreadsheets: every cell neutralised against formula injection, written in batches.

The one CSV writer every export uses (staff's member and payment exports, audiences, event
bookings); it knows no domain.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

#: A cell starting with one of these would be read as a formula by a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows per yielded chunk (and fetched per round trip by the exports).
BATCH = 1000


def neutralise(value: object) -> str:
    """A cell as text, with a leading apostrophe when it would start a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Yield CSV text: the header, then one string per `BATCH` rows (every cell neutralised)."""
    yield csv_text([header])
    batch: list[list[str]] = []
    for row in rows:
        batch.append([neutralise(cell) for cell in row])
        if len(batch) >= BATCH:
            yield csv_text(batch)
            batch = []
    if batch:
        yield csv_text(batch)


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """Rows as CSV text (RFC 4180 quoting), cells as given."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
