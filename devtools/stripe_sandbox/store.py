"""The sandbox's memory: objects by id, idempotency results, events; lists, expansion, saving.

Objects are plain dicts in Stripe's JSON shapes. Everything happens under one re-entrant lock.
"""

from __future__ import annotations

import calendar
import copy
import json
import os
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.stripe_sandbox.encoding import BadParam, as_int, as_list

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits

#: object type -> id prefix (lookups check the prefix, as Stripe's "No such ..." does).
PREFIXES = {
    "customer": "cus_",
    "product": "prod_",
    "price": "price_",
    "checkout.session": "cs_test_",
    "subscription": "sub_",
    "subscription_item": "si_",
    "invoice": "in_",
    "invoice_payment": "inpay_",
    "payment_intent": "pi_",
    "charge": "ch_",
    "refund": "re_",
    "payment_method": "pm_",
    "dispute": "du_",
    "billing_portal.session": "bps_",
    "event": "evt_",
}

NOUNS = {
    "checkout.session": "checkout.session",
    "billing_portal.session": "billing portal session",
    "invoice_payment": "invoice payment",
    "payment_intent": "payment_intent",
}


class NotFound(LookupError):
    def __init__(self, kind: str, object_id: str) -> None:
        super().__init__(f"No such {NOUNS.get(kind, kind)}: '{object_id}'")
        self.kind = kind
        self.object_id = object_id


def add_interval(ts: int, interval: str, count: int = 1) -> int:
    """`ts` moved on by calendar months or years (day clamped to the month's end), or days/weeks."""
    if interval in ("day", "week"):
        return ts + count * (86400 if interval == "day" else 7 * 86400)
    moment = datetime.fromtimestamp(ts, tz=UTC)
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


class Store:
    """State plus the plumbing every resource shares."""

    def __init__(
        self,
        *,
        secret_key: str = "sk_test_sandbox",  # noqa: S107  (the sandbox's own fake key)
        webhook_secret: str = "whsec_sandbox",  # noqa: S107
        state_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.state_file = Path(state_file) if state_file else None
        self.clock = clock
        self.lock = threading.RLock()
        #: Called with each new event (outside no lock guarantees: must not block).
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self._clear()
        self._load()

    # --- state ---------------------------------------------------------------------------------

    def _clear(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.kinds: dict[str, str] = {}
        self.seq: dict[str, int] = {}
        self.hidden: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.event_ids: list[str] = []
        self.counter = 0
        self.last_event_created = 0
        self.invoice_number = 0

    def reset(self) -> None:
        """Forget everything (objects, events, idempotency keys)."""
        with self.lock:
            self._clear()
            self.save()

    def _load(self) -> None:
        if not self.state_file or not self.state_file.exists():
            return
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        for name in ("objects", "kinds", "seq", "hidden", "idempotency", "event_ids"):
            if name in data:
                setattr(self, name, data[name])
        self.counter = int(data.get("counter", 0))
        self.last_event_created = int(data.get("last_event_created", 0))
        self.invoice_number = int(data.get("invoice_number", 0))

    def save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            data = {
                name: getattr(self, name)
                for name in (
                    "objects",
                    "kinds",
                    "seq",
                    "hidden",
                    "idempotency",
                    "event_ids",
                    "counter",
                    "last_event_created",
                    "invoice_number",
                )
            }
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            tmp.replace(self.state_file)

    def now(self) -> int:
        return int(self.clock())

    def new_id(self, kind: str) -> str:
        return PREFIXES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(24))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (its `object` field names its kind)."""
        kind = obj["object"]
        self.counter += 1
        self.objects[obj["id"]] = obj
        self.kinds[obj["id"]] = kind
        self.seq[obj["id"]] = self.counter
        return obj

    def get(self, kind: str, object_id: Any) -> dict[str, Any]:
        object_id = str(object_id or "")
        obj = self.objects.get(object_id)
        if obj is None or self.kinds.get(object_id) != kind:
            raise NotFound(kind, object_id)
        return obj

    def find(self, kind: str, **filters: Any) -> list[dict[str, Any]]:
        """Objects of a kind whose top-level fields equal `filters`, newest first."""
        with self.lock:
            rows = [
                o
                for oid, o in self.objects.items()
                if self.kinds.get(oid) == kind and all(o.get(k) == v for k, v in filters.items())
            ]
            rows.sort(key=lambda o: (o.get("created", 0), self.seq.get(o["id"], 0)), reverse=True)
            return copy.deepcopy(rows)

    # --- events --------------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event with a snapshot of `obj`; `created` always increases."""
        created = max(self.now(), self.last_event_created + 1)
        self.last_event_created = created
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event: dict[str, Any] = {
            "id": self.new_id("event"),
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.put(event)
        self.event_ids.append(event["id"])
        if self.on_event is not None:
            self.on_event(copy.deepcopy(event))
        return event

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Every event so far, oldest first (optionally of one type)."""
        with self.lock:
            rows = [self.objects[i] for i in self.event_ids if i in self.objects]
            if event_type:
                rows = [e for e in rows if e["type"] == event_type]
            return copy.deepcopy(rows)

    # --- lists and expansion -------------------------------------------------------------------

    def list_page(
        self,
        kind: str,
        url: str,
        params: dict[str, Any],
        match: Callable[[dict[str, Any]], bool] | None = None,
        filters: Iterable[str] = (),
    ) -> dict[str, Any]:
        """A Stripe list: newest first, `limit`, `starting_after`/`ending_before`, `created[...]`."""
        limit = as_int(params.get("limit", 10), "limit", minimum=1)
        if limit > 100:
            raise BadParam("This value must be less than or equal to 100.", "limit")
        rows = [
            o
            for oid, o in self.objects.items()
            if self.kinds.get(oid) == kind
            and (match is None or match(o))
            and _created_ok(o, params.get("created"))
            and all(_field_ok(o, name, params.get(name)) for name in filters)
        ]
        rows.sort(key=lambda o: (o.get("created", 0), self.seq.get(o["id"], 0)), reverse=True)
        after, before = params.get("starting_after"), params.get("ending_before")
        ids = [o["id"] for o in rows]
        if after:
            if after not in ids:
                raise BadParam(f"No such {NOUNS.get(kind, kind)}: '{after}'", "starting_after")
            rows = rows[ids.index(after) + 1 :]
        elif before:
            if before not in ids:
                raise BadParam(f"No such {NOUNS.get(kind, kind)}: '{before}'", "ending_before")
            rows = rows[: ids.index(before)]
            rows = rows[-limit:] if len(rows) > limit else rows
        page = rows[:limit]
        return {
            "object": "list",
            "data": copy.deepcopy(page),
            "has_more": len(rows) > limit,
            "url": url,
        }

    def expand(self, obj: dict[str, Any], paths: Any) -> dict[str, Any]:
        """`obj` (a copy) with the dotted `expand[]` paths replaced by the objects they name."""
        result = copy.deepcopy(obj)
        for path in as_list(paths):
            self._expand_path(result, str(path).split("."))
        return result

    def _expand_path(self, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        key, rest = parts[0], parts[1:]
        if key == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(item, rest)
            return
        value = node.get(key)
        if key not in node or (value is None and key in self.INCLUDABLE.get(node.get("object", ""), ())):
            value = self.includable(node, key)
            if value is None:
                if key not in node:
                    raise BadParam(f"This property cannot be expanded ({key}).", "expand")
                return
        if isinstance(value, str) and value in self.objects:
            value = copy.deepcopy(self.objects[value])
        node[key] = value
        self._expand_path(value, rest)

    #: Fields Stripe returns only when asked for with `expand[]`.
    INCLUDABLE: dict[str, tuple[str, ...]] = {}

    def includable(self, node: dict[str, Any], key: str) -> Any:  # pragma: no cover - overridden
        return None


def _created_ok(obj: dict[str, Any], bounds: Any) -> bool:
    if bounds in (None, ""):
        return True
    created = int(obj.get("created", 0))
    if not isinstance(bounds, dict):
        return created == as_int(bounds, "created")
    checks = {
        "gt": lambda v: created > v,
        "gte": lambda v: created >= v,
        "lt": lambda v: created < v,
        "lte": lambda v: created <= v,
    }
    for op, value in bounds.items():
        if op not in checks:
            raise BadParam(f"Received unknown parameter: created[{op}]", f"created[{op}]")
        if not checks[op](as_int(value, f"created[{op}]")):
            return False
    return True


def _field_ok(obj: dict[str, Any], name: str, wanted: Any) -> bool:
    if wanted in (None, ""):
        return True
    value = obj.get(name)
    if isinstance(value, dict):
        value = value.get("id")
    return value == wanted
