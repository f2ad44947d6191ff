"""Storage quota: space is reserved from declared sizes before any byte is written (SPEC §3)."""

from __future__ import annotations

from app.protocol.errors import ErrorCode, VcsError


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
