"""`python -m devtools.stripe_sandbox --port 12111 --webhook-url http://127.0.0.1:5000/stripe/webhook`"""

from __future__ import annotations

import argparse
import time

from devtools.stripe_sandbox.server import serve_in_thread


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Stripe sandbox for development.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=None, help="where to POST signed events")
    parser.add_argument("--webhook-secret", default="whsec_sandbox")
    parser.add_argument("--secret-key", default="sk_test_sandbox")
    parser.add_argument("--state-file", default=None, help="keep the sandbox's objects in this JSON file")
    parser.add_argument("--delivery", choices=("auto", "manual"), default="auto")
    args = parser.parse_args()
    server = serve_in_thread(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_file=args.state_file,
        delivery=args.delivery,
        secret_key=args.secret_key,
    )
    print(
        f"Stripe sandbox on {server.url} (webhooks: {args.webhook_url or 'not delivered'}). Ctrl+C stops it."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
