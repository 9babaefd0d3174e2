"""`Sandbox`: the state, the API operations and the test controls, with webhook delivery wired in."""

from __future__ import annotations

import copy
import os
from typing import Any

from devtools.stripe_sandbox.direct_debit import DirectDebitFlows
from devtools.stripe_sandbox.flows import Conflict
from devtools.stripe_sandbox.webhooks import AutoDelivery, ManualQueue

__all__ = ["Conflict", "Sandbox"]


class Sandbox(DirectDebitFlows):
    """Controls for tests: pay, pay_by_direct_debit, settle_direct_debit, return_direct_debit, decline, expire, renew, fail_renewal, give_up, refund, dispute,
    set_cancel_at_period_end, reset; `events()` lists every event, `take_events()` empties the
    manual delivery queue, `get(id)` returns any object."""

    def __init__(
        self,
        *,
        secret_key: str = "sk_test_sandbox",  # noqa: S107  (the sandbox's own fake key)
        webhook_secret: str = "whsec_sandbox",  # noqa: S107
        webhook_url: str | None = None,
        delivery: str = "auto",
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if delivery not in ("auto", "manual"):
            raise ValueError("delivery is 'auto' or 'manual'")
        super().__init__(secret_key=secret_key, webhook_secret=webhook_secret, state_file=state_file)
        self.webhook_url = webhook_url
        self.delivery_mode = delivery
        #: A request-failure plan for the next matching API call (see `fail_next`).
        self.failures: list[dict[str, Any]] = []
        self.delivery: AutoDelivery | ManualQueue
        if delivery == "auto" and webhook_url:
            self.delivery = AutoDelivery(webhook_url, webhook_secret)
        else:
            self.delivery = ManualQueue()
            if delivery == "auto":  # nowhere to deliver: keep nothing
                self.delivery = _Discard()
        self.on_event = self.delivery

    def object(self, object_id: str) -> dict[str, Any]:
        """Any object by id (a copy); KeyError when unknown."""
        with self.lock:
            return copy.deepcopy(self.objects[object_id])

    def take_events(self) -> list[dict[str, Any]]:
        """The events waiting for manual delivery, oldest first; the queue is emptied."""
        return self.delivery.take()

    def pending_events(self) -> list[dict[str, Any]]:
        return self.delivery.peek()

    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.failures.clear()
            self.delivery.clear()

    def fail_next(
        self, path_prefix: str = "/v1/", mode: str = "drop_after", count: int = 1, *, seconds: float = 30.0
    ) -> None:
        """Make the next `count` API calls under `path_prefix` fail like a flaky network:
        "drop_after" does the work and then drops the connection (the client sees no answer);
        "error_500" answers 500 without doing anything; "hang" answers nothing for `seconds`
        (a Stripe that has stalled), then 500."""
        if mode not in ("drop_after", "error_500", "hang"):
            raise ValueError("mode is 'drop_after', 'error_500' or 'hang'")
        with self.lock:
            self.hang_seconds = float(seconds)
            self.failures.append({"prefix": path_prefix, "mode": mode, "count": int(count)})

    def take_failure(self, path: str) -> str | None:
        with self.lock:
            for plan in self.failures:
                if path.startswith(plan["prefix"]):
                    plan["count"] -= 1
                    if plan["count"] <= 0:
                        self.failures.remove(plan)
                    return str(plan["mode"])
        return None

    def stop(self) -> None:
        self.delivery.stop()


class _Discard(ManualQueue):
    def __call__(self, event: dict[str, Any]) -> None:
        return None
