"""Stripe's request encoding: form fields with bracketed keys (`metadata[contact_id]`,
`line_items[0][price]`, `expand[]`) turned back into nested dicts and lists."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PART = re.compile(r"\[([^\]]*)\]")


class BadParam(ValueError):
    """A parameter Stripe would refuse; `param` names it."""

    def __init__(self, message: str, param: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def _split(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts.extend(_PART.findall("[" + rest))
    return parts


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested params from flat (key, value) pairs; dicts with only digit keys become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `expand[]=x`: append
                part = str(sum(1 for _ in node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise BadParam(f"Invalid value for {key}", key)
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def as_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise BadParam(f"Invalid integer: {value}", param) from None
    if minimum is not None and number < minimum:
        raise BadParam(f"This value must be greater than or equal to {minimum}.", param)
    return number


def as_bool(value: Any, param: str) -> bool:
    text = str(value).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BadParam(f"Invalid boolean: {value}", param)


def as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise BadParam("Invalid hash", param)
    if len(value) > 50:
        raise BadParam("Metadata can have at most 50 keys.", param)
    return {str(k): str(v) for k, v in value.items()}


def as_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]
