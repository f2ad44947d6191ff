"""Byte counts as people read them (kB, MB: powers of 1000, as file managers show)."""

from __future__ import annotations


def human_bytes(n: object) -> str:
    """`48.2 MB`; `?` for anything that is not a number (a server's odd answer)."""
    if isinstance(n, bool) or not isinstance(n, int | float) or n != n:
        return "?"
    value = float(n) if abs(n) < 1e30 else 1e30
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
