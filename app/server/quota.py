"""Storage quota: bytes are reserved before they are written, per server and per client.

Every byte a job or upload may put on disk is held by a `Reservation` first, so uploads
arriving at once can never overshoot the quota (docs/operations.md, "Quota
accounting"). A reservation has a holder (the client address it is charged to), and
one holder may hold at most `per_holder_limit` bytes, so one client cannot take the
whole store.

An upload does not hold its whole declared size while it arrives: it must fit when it
starts, but it holds only what it has sent plus a headroom (`grow_to`), so a client
that declares the whole quota and then trickles holds a few megabytes, not the store.
"""

from __future__ import annotations

import collections
from typing import Final

from app.protocol.errors import ErrorCode, VcsError
from app.server.units import format_bytes

# Holder of bytes found on disk at start-up, whose client is no longer known.
UNKNOWN_HOLDER: Final = ""
# An upload holds what it has sent plus this much, never its whole declared size
# (SPEC §3.0). It is more than a splice worker moves between two top-ups (0.1 s at
# ~2.4 GB/s), so the bytes on disk stay within what is held.
UPLOAD_HEADROOM_BYTES: Final = 256 * 1024 * 1024


def _store_full(needed: int, free: int, limit: int) -> VcsError:
    return VcsError(
        ErrorCode.QUOTA_EXCEEDED,
        f"The server's storage is full: {format_bytes(needed)} needed, "
        f"{format_bytes(free)} free of {format_bytes(limit)}.",
        "Try again later or with a smaller file; downloads of finished jobs still work.",
    )


def _holder_full(holder: str, needed: int, free: int, limit: int) -> VcsError:
    return VcsError(
        ErrorCode.QUOTA_EXCEEDED,
        f"Your address ({holder}) may keep at most {format_bytes(limit)} on this server; "
        f"{format_bytes(needed)} needed, {format_bytes(free)} of that left.",
        "Download or cancel your finished jobs to free their space, or send a smaller file.",
    )


class Reservation:
    """Bytes held against the quota until released; `resize` follows a file's real size."""

    def __init__(self, quota: Quota, size: int, holder: str) -> None:
        self._quota = quota
        self.size = size
        self.holder = holder

    def resize(self, size: int) -> None:
        """Set to `size` without a check: the bytes are already on disk (a result)."""
        self._quota.adjust(self.holder, size - self.size)
        self.size = size

    def grow_to(self, size: int) -> None:
        """Hold `size` bytes in all, or raise quota_exceeded (nothing changes then)."""
        if size > self.size:
            self._quota.check(self.holder, size - self.size)
            self.resize(size)

    def release(self) -> None:
        self.resize(0)

    def transfer_to(self, other: Reservation) -> None:
        """Hand this reservation's bytes to `other` (same holder), leaving this one empty."""
        other.resize(other.size + self.size)
        self.release()


class UploadReservation(Reservation):
    """The space of an upload in progress: it must fit whole at the start, and holds
    what has arrived plus a headroom while it arrives."""

    def __init__(self, quota: Quota, declared_size: int, holder: str) -> None:
        quota.check(holder, declared_size)
        super().__init__(quota, 0, holder)
        self.declared_size = declared_size
        self.resize(min(declared_size, UPLOAD_HEADROOM_BYTES))

    def grow(self, received: int) -> None:
        """`received` bytes have arrived: hold them plus the headroom, or raise
        quota_exceeded (the upload must stop; nothing of it may be kept)."""
        self.grow_to(min(self.declared_size, received + UPLOAD_HEADROOM_BYTES))

    def arrived(self) -> None:
        """The whole payload is stored: hold exactly its size."""
        self.resize(self.declared_size)


class Quota:
    """The store's byte budget, with a cap per holder (0: no cap)."""

    def __init__(self, limit_bytes: int, per_holder_limit: int = 0) -> None:
        self.limit = limit_bytes
        self.per_holder_limit = per_holder_limit
        self.used = 0
        self._by_holder: collections.Counter[str] = collections.Counter()

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)

    def held_by(self, holder: str) -> int:
        return self._by_holder[holder]

    def check(self, holder: str, size: int) -> None:
        """Raise quota_exceeded unless `size` more bytes fit, for the store and the holder."""
        if size > self.free:
            raise _store_full(size, self.free, self.limit)
        if self.per_holder_limit and holder != UNKNOWN_HOLDER:
            left = max(0, self.per_holder_limit - self._by_holder[holder])
            if size > left:
                raise _holder_full(holder, size, left, self.per_holder_limit)

    def reserve(self, size: int, holder: str = UNKNOWN_HOLDER) -> Reservation:
        self.check(holder, size)
        reservation = Reservation(self, 0, holder)
        reservation.resize(size)
        return reservation

    def reserve_upload(self, declared_size: int, holder: str) -> UploadReservation:
        return UploadReservation(self, declared_size, holder)

    def reserve_existing(self, size: int, holder: str = UNKNOWN_HOLDER) -> Reservation:
        """Account for bytes already on disk (after a restart), even past the limit."""
        reservation = Reservation(self, 0, holder)
        reservation.resize(size)
        return reservation

    def adjust(self, holder: str, delta: int) -> None:
        self.used += delta
        self._by_holder[holder] += delta
        if self._by_holder[holder] <= 0:
            del self._by_holder[holder]
