"""Which connections get in (docs/operations.md "limits on connections"), and the accept loop.

Two caps, shared by the MMP and raw listeners: open connections in all, and open
connections from one IP address. A slowloris from a few addresses fills its own
per-IP share, never the whole table, so other clients still get in; the idle and
slow-transfer timeouts then free what it holds.
"""

from __future__ import annotations

import collections
import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import trio

from app.protocol.errors import ErrorCode, ErrorInfo
from app.wire.sockets import peer_host

log = logging.getLogger(__name__)

_ACCEPT_RESOURCE_ERRORS: Final = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
# Refused connections get their answer from a task each; past this many at once (a
# flood) the rest are closed without one, so refusing never costs unbounded sockets.
MAX_PENDING_REFUSALS: Final = 256
REFUSAL_TIMEOUT_S: Final = 1.0

# Called with the connection and the peer's address (read once, at accept: a peer that
# has already reset makes getpeername fail later).
Handler = Callable[[trio.SocketStream, str], Awaitable[None]]
Refuse = Callable[[trio.SocketStream, ErrorInfo], Awaitable[None]]


class ConnectionLimits:
    """Counts open connections, in all and per client address."""

    def __init__(
        self, max_total: int, max_per_ip: int, exempt: Callable[[str], bool] = lambda ip: False
    ) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip  # 0: no per-address cap
        self._exempt = exempt
        self.open = 0
        self._per_ip: collections.Counter[str] = collections.Counter()

    def open_from(self, ip: str) -> int:
        return self._per_ip[ip]

    def admit(self, ip: str) -> ErrorInfo | None:
        """Count the connection in, or say why it is refused."""
        if self.open >= self.max_total:
            return ErrorInfo(
                ErrorCode.BUSY,
                "The server has too many open connections.",
                "Try again in a few seconds.",
            )
        if self.max_per_ip and self._per_ip[ip] >= self.max_per_ip and not self._exempt(ip):
            return ErrorInfo(
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"Your address ({ip}) already has {self.max_per_ip} open connections, "
                "the most this server allows.",
                "Close connections you no longer use (one per request is enough), then try again.",
            )
        self.open += 1
        self._per_ip[ip] += 1
        return None

    def release(self, ip: str) -> None:
        self.open -= 1
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]


async def serve_listener(
    listener: trio.SocketListener,
    limits: ConnectionLimits,
    handle: Handler,
    refuse: Refuse,
    nursery: trio.Nursery,
) -> None:
    """Accept forever; every admitted connection runs `handle` in `nursery`.

    An error in one handler never reaches this loop (handlers catch their own), and a
    lack of file descriptors pauses accepting instead of crashing.
    """
    refusals = trio.Semaphore(MAX_PENDING_REFUSALS)

    async def serve_one(stream: trio.SocketStream, ip: str) -> None:
        # One connection's failure must never reach the nursery that owns the server.
        try:
            await handle(stream, ip)
        except Exception:
            log.exception("a connection from %s failed", ip)
        finally:
            limits.release(ip)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def refuse_one(stream: trio.SocketStream, info: ErrorInfo) -> None:
        try:
            with trio.move_on_after(REFUSAL_TIMEOUT_S):
                await refuse(stream, info)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # gone before it could read why
        finally:
            refusals.release()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RESOURCE_ERRORS:
                    raise
                log.error("accept failed (%s); pausing 100 ms", exc)
                await trio.sleep(0.1)
                continue
            try:
                ip = peer_host(stream)
            except OSError:  # the peer is already gone
                await stream.aclose()
                continue
            refusal = limits.admit(ip)
            if refusal is None:
                nursery.start_soon(serve_one, stream, ip)
                continue
            log.debug("refused a connection from %s: %s", ip, refusal.code)
            try:
                refusals.acquire_nowait()
            except trio.WouldBlock:
                await stream.aclose()
                continue
            nursery.start_soon(refuse_one, stream, refusal)
