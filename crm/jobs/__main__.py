"""`python -m crm.jobs [--burst] [--simple]`: a background-job worker started without the `flask`
command.

The same worker as `flask crm worker`. `deploy/run worker` starts this one because the `flask`
command first loads every installed extension's commands, and Flask-Migrate's bring alembic, mako
and pygments (about 9 MB) into each worker and each work horse it forks.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crm.jobs", description="Run a background-job worker on the crm queue."
    )
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    parser.add_argument(
        "--simple", action="store_true", help="run jobs in this process instead of a forked one"
    )
    args = parser.parse_args(argv)

    from crm import create_app
    from crm.jobs.worker import start_worker

    with create_app().app_context():
        try:
            start_worker(burst=args.burst, simple=args.simple)
        except RuntimeError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
