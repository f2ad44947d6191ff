"""Storage quota: space is reserved from declared sizes before any byte is written (SPEC §3)."""

from __future__ import annotations

import re

from app.protocol.errors import ErrorCode, VcsError

_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'4TB', '500G', '10MiB', '1048576' → bytes (decimal units; 'i' for binary)."""
    match = _SIZE_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (try 4TB, 500GB, 10MiB)")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    power = " kmgtp".index(unit.lower()) if unit else 0
    return int(float(number) * base**power)


def format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


class Reservation:
    """Bytes held against the quota until released; `resize` follows a file's real size."""

    def __init__(self, quota: Quota, size: int) -> None:
        self._quota = quota
        self.size = size

    def resize(self, size: int) -> None:
        """Shrink (or grow, unchecked: the bytes are already on disk) to `size`."""
        self._quota.used += size - self.size
        self.size = size

    def release(self) -> None:
        self._quota.used -= self.size
        self.size = 0


class Quota:
    def __init__(self, limit_bytes: int, used_bytes: int = 0) -> None:
        self.limit = limit_bytes
        self.used = used_bytes

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)

    def reserve(self, size: int) -> Reservation:
        if size > self.free:
            raise VcsError(
                ErrorCode.QUOTA_EXCEEDED,
                f"The server's storage is full: {format_bytes(size)} needed, "
                f"{format_bytes(self.free)} free of {format_bytes(self.limit)}.",
                "Try again later or with a smaller file; downloads of finished jobs still work.",
            )
        self.used += size
        return Reservation(self, size)

    def reserve_existing(self, size: int) -> Reservation:
        """Account for bytes already on disk (after a restart), even past the limit."""
        self.used += size
        return Reservation(self, size)
