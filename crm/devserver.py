"""`make run`: the app on http://127.0.0.1:5000 with the Stripe sandbox beside it (no Stripe account,
no mail server needed). Not for production: use gunicorn (see README)."""

from __future__ import annotations

import os

from config import SANDBOX_API_BASE
from crm import create_app
from crm.demo import demo_logins


def main() -> None:
    host, port = "127.0.0.1", int(os.environ.get("PORT", "5000"))
    app = create_app(os.environ.get("CRM_ENV", "development"))
    api_base = (app.config.get("STRIPE_API_BASE") or "").rstrip("/")
    if api_base == SANDBOX_API_BASE:
        from crm.stripe_sandbox.server import serve_in_thread

        sandbox_port = int(api_base.rsplit(":", 1)[1])
        serve_in_thread(
            host="127.0.0.1",
            port=sandbox_port,
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
