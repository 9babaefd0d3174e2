"""`make run`: the app on http://127.0.0.1:$PORT (5000) with the Stripe sandbox beside it whenever
STRIPE_API_BASE is a loopback http address, on that address's port (no Stripe account, no mail
server needed). Not for production: use gunicorn (see README)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from crm import create_app
from crm.core.schema_check import SCHEMA_OUT_OF_DATE, warn_if_schema_out_of_date
from crm.demo import demo_logins


def sandbox_port(api_base: str | None) -> int | None:
    """The port to serve the sandbox on: STRIPE_API_BASE's, when it is a loopback http address."""
    parts = urlsplit((api_base or "").strip())
    if parts.scheme != "http" or not parts.hostname:
        return None
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return None
    if not loopback:
        return None
    try:
        return parts.port or 80
    except ValueError:
        return None


def main() -> None:
    host, port = "127.0.0.1", int(os.environ.get("PORT", "5000"))
    app = create_app(os.environ.get("CRM_ENV", "development"))
    with app.app_context():
        if not warn_if_schema_out_of_date():
            print(f"\nWARNING: {SCHEMA_OUT_OF_DATE}\n")
    api_base = (app.config.get("STRIPE_API_BASE") or "").rstrip("/")
    found = sandbox_port(api_base)
    if found is not None:
        from devtools.stripe_sandbox.server import serve_in_thread

        serve_in_thread(
            host="127.0.0.1",
            port=found,
            webhook_url=f"http://{host}:{port}/stripe/webhook",
            webhook_secret=app.config["STRIPE_WEBHOOK_SECRET"],
            state_file=os.path.join(app.instance_path, "stripe-sandbox.json"),
        )
        print(f"Stripe sandbox on {api_base} (checkout pages offer Pay and Decline)")
    print(f"\n{app.config['ORG_NAME']} is running at http://{host}:{port}\n")
    print(demo_logins())
    print("\nEmail is printed here and shown at /staff/outbox. Press Ctrl+C to stop.\n")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
