"""Signing events as Stripe does, and delivering them: "auto" POSTs each event to the webhook URL
from a background thread, retrying failures with backoff; "manual" keeps them for tests to send."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger(__name__)

#: Seconds to wait before each retry (Stripe retries for days; a dev loop needs less).
RETRY_DELAYS = (1, 2, 5, 10, 30, 60, 120, 300)


def signature_header(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature`: `t=<unix>,v1=<hex HMAC-SHA256 of "t.payload" keyed by the secret>`."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_payload(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2)


class ManualQueue:
    """Events wait here until a test takes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            events, self._events = self._events, []
            return events

    def peek(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        self.take()

    def stop(self) -> None:
        pass


class AutoDelivery:
    """POSTs each event to `url`; a failure (non-2xx or no answer) is retried later."""

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.log: list[dict[str, Any]] = []
        self._heap: list[tuple[float, int, int, dict[str, Any]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="stripe-sandbox-webhooks", daemon=True)
        self._thread.start()

    def __call__(self, event: dict[str, Any]) -> None:
        self._schedule(event, attempt=0, delay=0.0)

    def _schedule(self, event: dict[str, Any], *, attempt: int, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), attempt, event))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout=wait)
                if self._stopped:
                    return
                _, _, attempt, event = heapq.heappop(self._heap)
            ok, status = self._post(event)
            self.log.append(
                {"event": event["id"], "type": event["type"], "attempt": attempt + 1, "status": status}
            )
            if not ok and attempt < len(RETRY_DELAYS):
                self._schedule(event, attempt=attempt + 1, delay=RETRY_DELAYS[attempt])

    def _post(self, event: dict[str, Any]) -> tuple[bool, int | str]:
        payload = event_payload(event)
        request = urllib.request.Request(  # noqa: S310  (the configured local webhook URL)
            self.url,
            data=payload.encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature_header(payload, self.secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) sandbox",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
                return 200 <= response.status < 300, response.status
        except urllib.error.HTTPError as error:
            return False, error.code
        except (OSError, ValueError) as error:
            log.info("stripe sandbox: webhook %s not delivered: %s", event["id"], error)
            return False, type(error).__name__

    def take(self) -> list[dict[str, Any]]:
        return []

    def peek(self) -> list[dict[str, Any]]:
        with self._cond:
            return [entry[3] for entry in sorted(self._heap)]

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)
