"""Storage quota as uploads meet it: refusals users can act on, and the hold of an upload
that grows as its bytes arrive (docs/operations.md, "Quota accounting").

The bytes themselves are counted in the job store (app/server/stores/), cluster-wide,
in the same transaction as each change that holds or frees them. An upload does not
hold its whole declared size while it arrives: it must fit when it starts, but holds
only what it has sent plus a headroom, so a client that declares the whole quota and
then trickles holds a few hundred megabytes, not the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import trio

from app.protocol.errors import ErrorCode, VcsError
from app.server.stores.job_store import QuotaFull
from app.server.units import format_bytes
from app.wire.exception_groups import sole_exception

# An upload holds what it has sent plus this much, never its whole declared size
# (docs/security.md). It is more than a splice worker moves between two top-ups (0.1 s at
# ~2.4 GB/s), so the bytes stored stay within what is held.
UPLOAD_HEADROOM_BYTES: Final = 256 * 1024 * 1024
# The hold follows what arrived, one job store transaction at a time, at most one per
# GROW_INTERVAL_S (what a cluster's one quota row can bear: docs/scale.md), sooner when
# less than GROW_MARGIN_BYTES of it is left unused.
GROW_INTERVAL_S: Final = 0.1
GROW_MARGIN_BYTES: Final = UPLOAD_HEADROOM_BYTES // 2


def quota_refusal(full: QuotaFull) -> VcsError:
    """The store's QuotaFull as the error JSON a client reads."""
    if full.address is not None:
        return VcsError(
            ErrorCode.QUOTA_EXCEEDED,
            f"Your address ({full.address}) may keep at most {format_bytes(full.limit)} on "
            f"this server; {format_bytes(full.needed)} needed, {format_bytes(full.free)} "
            "of that left.",
            "Download or cancel your finished jobs to free their space, or send a smaller file.",
        )
    return VcsError(
        ErrorCode.QUOTA_EXCEEDED,
        f"The server's storage is full: {format_bytes(full.needed)} needed, "
        f"{format_bytes(full.free)} free of {format_bytes(full.limit)}.",
        "Try again later or with a smaller file; downloads of finished jobs still work.",
    )


def first_hold(declared_size: int) -> int:
    """What an upload holds when it starts (all of it must fit, this much is held)."""
    return min(declared_size, UPLOAD_HEADROOM_BYTES)


class UploadHold:
    """The quota an upload in progress holds: what arrived plus a headroom.

    `grow(received)` is told the bytes received so far, in the event loop, as they
    arrive; a task started by `kept()` raises the hold in the job store when needed.
    If the store cannot hold more, the upload is cancelled and `kept()` raises
    quota_exceeded: the caller discards everything of it.
    """

    def __init__(self, declared_size: int, raise_to: Callable[[int], Awaitable[None]]) -> None:
        self.declared_size = declared_size
        self.held = first_hold(declared_size)
        self._raise_to = raise_to
        self._received = 0
        self._wanted = self.held
        self._more = trio.Event()
        self._running_low = trio.Event()
        self._refusal: VcsError | None = None

    def grow(self, received: int) -> None:
        if self._refusal is not None:
            raise self._refusal
        self._received = received
        wanted = min(self.declared_size, received + UPLOAD_HEADROOM_BYTES)
        if wanted > self._wanted:
            self._wanted = wanted
            self._more.set()
        if self.held - received < GROW_MARGIN_BYTES:
            self._running_low.set()

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keep, nursery.cancel_scope)
                try:
                    yield
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise sole_exception(group) from None
        if self._refusal is not None:
            raise self._refusal

    async def _keep(self, upload: trio.CancelScope) -> None:
        while True:
            await self._more.wait()
            self._more = trio.Event()
            wanted = self._wanted
            self._running_low = trio.Event()
            try:
                await self._raise_to(wanted)
            except QuotaFull as full:
                self._refusal = quota_refusal(full)
                upload.cancel()
                return
            self.held = wanted
            if self.held - self._received >= GROW_MARGIN_BYTES:
                with trio.move_on_after(GROW_INTERVAL_S):
                    await self._running_low.wait()
