"""Sizes and durations as people write them (`500GB`, `10MiB`, `1h30m`) and as we show them."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any, Final

_SIZE_RE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?", re.IGNORECASE)
_DURATION_PART_RE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_DURATION_UNITS_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_size(text: str) -> int:
    """'4TB', '500G', '10MiB', '1048576' → bytes (decimal units; 'i' for binary)."""
    match = _SIZE_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (try 4TB, 500GB, 10MiB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    power = " kmgtp".index(unit.lower()) if unit else 0
    return int(float(number) * base**power)


def parse_duration(text: str) -> float:
    """'90', '90s', '5m', '1h30m', '1.5h', '2d', '250ms' → seconds (a bare number: seconds)."""
    rest = text.strip().replace(" ", "")
    if not rest:
        raise ValueError("not a duration: empty (try 30s, 5m, 1h)")
    total = 0.0
    while rest:
        match = _DURATION_PART_RE.match(rest)
        if match is None or not match.group(0):
            raise ValueError(f"not a duration: {text!r} (try 30s, 5m, 1h30m)")
        number, unit = match.groups()
        total += float(number) * _DURATION_UNITS_S[(unit or "s").lower()]
        rest = rest[match.end() :]
    if not math.isfinite(total):
        raise ValueError(f"not a duration: {text!r}")
    return total


def format_bytes(n: int) -> str:
    """Decimal units, as disks are sold: 4000000000000 → '4.0 TB'."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """21600 → '6h', 90 → '1m30s', 0.5 → '0.5s': the shortest form `parse_duration` reads."""
    if seconds < 60:
        return f"{seconds:g}s"
    parts = []
    remaining = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser of ours as an argparse type: its ValueError becomes a usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert
