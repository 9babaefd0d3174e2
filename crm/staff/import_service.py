"""Importing members from a CSV file: decode, map columns, validate every row, upsert in chunks.

Fast and safe to re-run: rows go in chunks; each chunk looks existing contacts up with one IN
query on the normalised email and writes with executemany; the caller commits after each chunk
(`on_chunk`), so an interrupted import run again finishes the job without duplicates. Importing
the same file twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm.audit.services import record
from crm.extensions import db
from crm.staff.import_parsing import (
    ALIASES,
    CONTACT_FIELDS,
    DEFAULT_CHUNK,
    FIELDS,
    IMPORT_STATUSES,
    LABELS,
    CleanRow,
    ImportFileError,
    ImportReport,
    RowError,
    _checked_row,
    column_index,
    count_rows,
    decode_upload,
    guess_mapping,
    ignored_columns,
    iter_rows,
    parse_date,
    plans_by_key,
    preview,
    read_headers,
    validate_row,
)
from crm.staff.import_writing import import_chunk

__all__ = [
    "DEFAULT_CHUNK",
    "FIELDS",
    "LABELS",
    "ALIASES",
    "CONTACT_FIELDS",
    "IMPORT_STATUSES",
    "ImportFileError",
    "ImportReport",
    "RowError",
    "CleanRow",
    "column_index",
    "count_rows",
    "decode_upload",
    "guess_mapping",
    "ignored_columns",
    "iter_rows",
    "parse_date",
    "plans_by_key",
    "preview",
    "read_headers",
    "validate_row",
    "import_chunk",
    "import_members",
    "run_import_file",
]


def import_members(
    text: str,
    mapping: dict[str, str],
    *,
    source_name: str = "upload",
    actor: Any = None,
    actor_label: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    on_chunk: Callable[[], None] | None = None,
    progress: Callable[[int], None] | None = None,
    after_chunk: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Validate every row, import the good ones in chunks, report each bad one with its line.

    `on_chunk` commits each chunk; `after_chunk` then gets the report so far (rows read, created,
    updated, unchanged, errors), e.g. to log how far an import got before it was interrupted.
    """
    if "email" not in mapping:
        raise ImportFileError("Choose the column that holds the email address.")
    headers = read_headers(text)
    index = column_index(headers, mapping)
    if "email" not in index:
        raise ImportFileError(f"The file has no column called “{mapping['email']}”.")
    plans, report = plans_by_key(), ImportReport()
    seen: dict[str, int] = {}  # each email's first line in the file
    record("import.members.start", target_type="import", target_id=source_name[:64],
           detail=f"importing {source_name}; columns: {mapping}", actor=actor, actor_label=actor_label)  # fmt: skip
    chunk: list[CleanRow] = []

    def flush_chunk() -> None:
        import_chunk(chunk, report, source_name)
        db.session.flush()
        if on_chunk:
            on_chunk()
        if progress:
            progress(len(chunk))
        if after_chunk and chunk:
            after_chunk(report)
        chunk.clear()

    for line, cells in iter_rows(text):
        report.rows += 1
        try:
            row = _checked_row(line, cells, index, plans, seen)
        except ValueError as error:
            report.errors.append(
                RowError(line, str(error), cells[index["email"]][:254] if len(cells) > index["email"] else "")
            )
            if progress:
                progress(1)
            continue
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush_chunk()
    flush_chunk()
    record("import.members", target_type="import", target_id=source_name[:64], actor=actor, actor_label=actor_label,
           after={**report.as_dict(), "first_errors": [f"line {e.line}: {e.reason}" for e in report.errors[:100]]},
           detail=f"imported {source_name}")  # fmt: skip
    db.session.flush()
    return report


def run_import_file(
    path: str, mapping: dict[str, str], actor_id: int | None = None, source_name: str = "upload"
) -> dict[str, int]:
    """Background job: import a stored upload, committing each chunk, then delete the file."""
    from pathlib import Path

    from crm.accounts.models import User

    actor = db.session.get(User, actor_id) if actor_id else None
    file = Path(path)
    report = import_members(file.read_text(encoding="utf-8"), mapping, source_name=source_name, actor=actor,
                            on_chunk=db.session.commit)  # fmt: skip
    db.session.commit()
    file.unlink(missing_ok=True)
    return report.as_dict()
