"""gunicorn.conf.py's settings for the hello baseline, minus its post_fork hook (which builds the
CRM app to reset its database pool; the hello app has no database)."""

import runpy
from pathlib import Path

_settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
globals().update({k: v for k, v in _settings.items() if not k.startswith("_") and k != "post_fork"})
