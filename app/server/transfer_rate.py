"""The slow-transfer rule (SPEC §3): a peer that sends, but too slowly, is dropped.

The idle timeout catches a peer that sends nothing; one that trickles a byte a second
never trips it and would hold its connection (and its upload's quota) forever. So
while a message is in progress, the peer must deliver at least `min_bytes_per_s`
bytes in every `window_s` seconds the server spends waiting for it. Only time spent
waiting counts: a server busy writing to disk never blames the client for it.

Sends get the same rule the other way round: a batch must leave within `window_s`
plus the time the minimum rate needs for it, so a peer that stops reading a
download cannot pin the connection either.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from app.protocol.errors import ErrorCode, ErrorInfo


class TransferTooSlow(trio.TooSlowError):
    """Raised instead of returning bytes; `info` is the answer for the peer."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.description)
        self.info = info


class RateGuardedStream(trio.abc.HalfCloseableStream):
    """Wraps a connection's socket stream; `in_transfer()` says when the rule applies."""

    def __init__(
        self,
        inner: trio.SocketStream,
        min_bytes_per_s: float,
        window_s: float,
        in_transfer: Callable[[], bool],
    ) -> None:
        self.inner = inner
        self.socket = inner.socket
        self._min_rate = min_bytes_per_s
        self._window_s = window_s
        self._in_transfer = in_transfer
        self._waited_s = 0.0
        self._received = 0
        self._tripped = False

    @property
    def enabled(self) -> bool:
        # Once tripped, the error answer and the short linger after it have their
        # own timeouts; the rule must not fire again inside them.
        return self._min_rate > 0 and self._window_s > 0 and not self._tripped

    def _new_window(self) -> None:
        self._waited_s = 0.0
        self._received = 0

    def _too_slow(self, what: str, solution: str) -> TransferTooSlow:
        self._tripped = True
        return TransferTooSlow(
            ErrorInfo(
                ErrorCode.TOO_SLOW,
                f"{what} slower than {self._min_rate:.0f} bytes/s "
                f"over {self._window_s:.0f} s; the connection is dropped.",
                solution,
            )
        )

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if not self.enabled or not self._in_transfer():
            self._new_window()
            return await self.inner.receive_some(max_bytes)
        started = trio.current_time()
        with trio.move_on_after(max(0.0, self._window_s - self._waited_s)) as scope:
            data = await self.inner.receive_some(max_bytes)
        self._waited_s += trio.current_time() - started
        if scope.cancelled_caught:
            raise self._too_slow(
                "The message arrived",
                "Send the whole message without stalling; check the network path.",
            )
        self._received += len(data)
        if self._received >= self._min_rate * self._window_s:
            self._new_window()  # this window met the rate; judge the next one afresh
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self.enabled:
            await self.inner.send_all(data)
            return
        with trio.move_on_after(self._window_s + len(data) / self._min_rate) as scope:
            await self.inner.send_all(data)
        if scope.cancelled_caught:
            raise self._too_slow(
                "The answer was read",
                "Read the server's answer as it comes (a download must keep flowing).",
            )

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()
