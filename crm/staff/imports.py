"""Staff: import members from a CSV file (upload, map the columns, preview, import, report)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from crm.core.permissions import requires
from crm.extensions import db
from crm.jobs.queue import try_enqueue
from crm.staff import import_service as service
from crm.staff.content_forms import ImportUploadForm, make_mapping_form
from crm.staff.routes import bp

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def _upload_dir() -> Path:
    folder = Path(current_app.config.get("IMPORT_UPLOAD_DIR") or Path(current_app.instance_path) / "imports")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stored(token: str) -> tuple[Path, dict[str, Any]]:
    """The stored upload for `token` (a random name we made, never a path from the user)."""
    if not _TOKEN.match(token):
        abort(404)
    path = _upload_dir() / f"{token}.csv"
    meta = _upload_dir() / f"{token}.json"
    if not path.exists() or not meta.exists():
        abort(404)
    return path, json.loads(meta.read_text(encoding="utf-8"))


def _max_bytes() -> int:
    """Uploads above MAX_CONTENT_LENGTH get 413 before any view runs; larger files use the CLI."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 8 * 1024 * 1024
    return int(min(current_app.config.get("IMPORT_MAX_BYTES") or limit, limit))


@bp.route("/import", methods=["GET", "POST"])
@requires("import")
def import_upload():
    form = ImportUploadForm()
    if form.validate_on_submit():
        data = form.file.data.read(_max_bytes() + 1)
        try:
            if len(data) > _max_bytes():
                raise service.ImportFileError(
                    f"The file is larger than {_max_bytes() // (1024 * 1024)} MB. Split it, or use the command line."
                )
            text = service.decode_upload(data)
            headers = service.read_headers(text)
        except service.ImportFileError as error:
            form.file.errors.append(str(error))
        else:
            token = secrets.token_urlsafe(24)
            (_upload_dir() / f"{token}.csv").write_text(text, encoding="utf-8")
            name = Path(form.file.data.filename or "upload.csv").name[:100]
            meta = {"filename": name, "headers": headers, "rows": service.count_rows(text)}
            (_upload_dir() / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
            return redirect(url_for("staff.import_map", token=token))
    return render_template("staff/import_upload.html", form=form), 400 if form.errors else 200


def _enqueue(path: Path, mapping: dict[str, str], source: str) -> bool:
    """On a worker when Redis is there (True); False means: import now, in this request."""
    job = try_enqueue("crm.staff.import_service.run_import_file", str(path), mapping, current_user.id, source)
    return job is not None


@bp.route("/import/<token>", methods=["GET", "POST"])
@requires("import")
def import_map(token: str):
    path, meta = _stored(token)
    form_class = make_mapping_form(meta["headers"], service.FIELDS, service.LABELS)
    form = form_class(data={f"map_{k}": v for k, v in service.guess_mapping(meta["headers"]).items()})
    rows = None
    mapping = service.guess_mapping(meta["headers"])
    if form.validate_on_submit():
        mapping = form.mapping()
        if request.form.get("action") != "import":
            rows = service.preview(path.read_text(encoding="utf-8"), mapping)
        elif meta["rows"] > int(current_app.config.get("IMPORT_INLINE_MAX_ROWS", 5000)) and _enqueue(
            path, mapping, meta["filename"]
        ):
            flash(
                f"Importing {meta['rows']:,} rows in the background. The audit log shows the result.",
                "success",
            )
            return redirect(url_for("staff.import_upload"))
        else:
            return _run(path, mapping, meta)
    return render_template("staff/import_map.html", form=form, meta=meta, rows=rows, labels=service.LABELS, token=token,
                           ignored=service.ignored_columns(meta["headers"], mapping))  # fmt: skip


def _run(path: Path, mapping: dict[str, str], meta: dict[str, Any]):
    report = service.import_members(path.read_text(encoding="utf-8"), mapping, source_name=meta["filename"],
                                    actor=current_user, on_chunk=db.session.commit)  # fmt: skip
    db.session.commit()
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
    return render_template("staff/import_result.html", report=report, meta=meta)
