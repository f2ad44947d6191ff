"""Strict JSON for message bodies: one object, UTF-8, bounded depth, no NaN."""

from __future__ import annotations

import json
from typing import Any

from app.protocol import limits
from app.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

_SOLUTION = 'Send one UTF-8 JSON object such as {"op": "status", "job_id": "..."}.'


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _depth(value: Any) -> int:
    """Nesting depth, computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a message's JSON, raising RemoteProtocolError(BAD_JSON) for anything else."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise RemoteProtocolError(
            ErrorCode.BAD_JSON,
            f"The JSON is nested too deeply (limit {limits.MAX_JSON_DEPTH} levels).",
            _SOLUTION,
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(
            ErrorCode.BAD_JSON, f"The message's JSON could not be parsed: {exc}.", _SOLUTION
        ) from None
    if not isinstance(value, dict):
        raise RemoteProtocolError(
            ErrorCode.BAD_JSON,
            f"The message's JSON is a {type(value).__name__}, not an object.",
            _SOLUTION,
        )
    if _depth(value) > limits.MAX_JSON_DEPTH:
        raise RemoteProtocolError(
            ErrorCode.BAD_JSON,
            f"The JSON is nested too deeply (limit {limits.MAX_JSON_DEPTH} levels).",
            _SOLUTION,
        )
    return value


def encode_json_object(doc: dict[str, Any]) -> bytes:
    """Serialise a message's JSON compactly; LocalProtocolError when it cannot be sent."""
    try:
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode message JSON: {exc}") from exc
    data = raw.encode("utf-8")
    if not limits.MIN_JSON_SIZE <= len(data) <= limits.MAX_JSON_SIZE:
        raise LocalProtocolError(f"message JSON is {len(data)} bytes")
    return data
