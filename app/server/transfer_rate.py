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

import math
from collections.abc import Callable

import trio

from app.protocol.errors import ErrorCode, ErrorInfo
from app.wire.wait_guard import WaitGuard

_RECEIVE_TOO_SLOW = (
    "The message arrived",
    "Send the whole message without stalling; check the network path.",
)
_SEND_TOO_SLOW = (
    "The answer was read",
    "Read the server's answer as it comes (a download must keep flowing).",
)


class TransferTooSlow(trio.TooSlowError):
    """Raised instead of returning bytes; `info` is the answer for the peer."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.description)
        self.info = info


class RateGuardedStream(trio.abc.HalfCloseableStream):
    """Wraps a connection's socket stream; `in_transfer()` says when the rule applies."""

    def __init__(
        self,
        transport_stream: trio.SocketStream,
        min_bytes_per_s: float,
        window_s: float,
        in_transfer: Callable[[], bool],
    ) -> None:
        self.transport_stream = transport_stream
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
            return await self.transport_stream.receive_some(max_bytes)
        started = trio.current_time()
        with trio.move_on_after(self._window_left_s()) as scope:
            data = await self.transport_stream.receive_some(max_bytes)
        self._count_wait(trio.current_time() - started)
        if scope.cancelled_caught:
            raise self._too_slow(*_RECEIVE_TOO_SLOW)
        self._count_moved(len(data))
        return data

    # The window's bookkeeping, shared with the guards of transfers below this stream.
    def _window_left_s(self) -> float:
        return max(0.0, self._window_s - self._waited_s)

    def _count_wait(self, seconds: float) -> None:
        self._waited_s += seconds

    def _count_moved(self, nbytes: int) -> None:
        self._received += nbytes
        if self._received >= self._min_rate * self._window_s:
            self._new_window()  # this window met the rate; judge the next one afresh

    def receive_guard(self, idle_timeout_s: float) -> WaitGuard:
        """The same rules for a payload received below this stream (splice into a file)."""
        return _WaitRule(self, idle_timeout_s, *_RECEIVE_TOO_SLOW)

    def send_guard(self) -> WaitGuard:
        """The same rule for a payload sent below this stream (sendfile)."""
        return _WaitRule(self, math.inf, *_SEND_TOO_SLOW)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self.enabled:
            await self.transport_stream.send_all(data)
            return
        with trio.move_on_after(self._window_s + len(data) / self._min_rate) as scope:
            await self.transport_stream.send_all(data)
        if scope.cancelled_caught:
            raise self._too_slow(*_SEND_TOO_SLOW)

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.transport_stream.send_eof()

    async def aclose(self) -> None:
        await self.transport_stream.aclose()


# poll(2) counts whole milliseconds: a wait that timed out ends within this of its limit.
WAIT_SLACK_S = 0.01


class _WaitRule:
    """RateGuardedStream's rule (and an idle limit) as a WaitGuard, for bulk transfers
    that bypass the stream: splice on receive, sendfile on send. Time spent waiting for
    the peer counts; each window of it must see the minimum rate's worth of bytes."""

    def __init__(
        self, stream: RateGuardedStream, idle_timeout_s: float, what: str, solution: str
    ) -> None:
        self._stream = stream
        self._idle_timeout_s = idle_timeout_s
        self._what = what
        self._solution = solution

    def wait_limit_s(self) -> float:
        s = self._stream
        if not s.enabled:
            return self._idle_timeout_s
        return min(self._idle_timeout_s, s._window_left_s())

    def waited(self, seconds: float, timed_out: bool) -> None:
        s = self._stream
        if s.enabled:
            s._count_wait(seconds)
        if not timed_out:
            return
        if s.enabled and s._window_left_s() <= WAIT_SLACK_S:
            raise s._too_slow(self._what, self._solution)
        raise trio.TooSlowError(f"nothing arrived for {self._idle_timeout_s:.0f} s")

    def moved(self, nbytes: int) -> None:
        self._stream._count_moved(nbytes)
