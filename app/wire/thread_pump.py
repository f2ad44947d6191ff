"""Blocking transfer loops in worker threads, waiting on a socket, stoppable by trio.

The bulk paths (splice into a file, the sealed pumps) move a payload in one worker
thread so the event loop does not touch every chunk. Such a loop waits for its socket
with poll(2) under a WaitGuard (the idle and slow-transfer rules), and also polls a
wake-up eventfd, so trio cancellation stops it at once: `run_pump` runs the loop and
turns a stop into the Cancelled that caused it. `ProgressRelay` carries the bytes the
thread moved to a progress callback in the event loop, every PROGRESS_INTERVAL_S.
"""

from __future__ import annotations

import errno
import os
import select
import time
from collections.abc import Callable
from functools import partial
from typing import Final, TypeVar

import trio

from app.wire.exception_groups import sole_exception
from app.wire.wait_guard import WaitGuard

PROGRESS_INTERVAL_S: Final = 0.1
# Below this, a payload is not worth the worker threads: it goes through the event loop.
BULK_MIN_BYTES: Final = 1024 * 1024
# Errors of a connection the peer has gone from.
BROKEN_ERRNOS: Final = frozenset({errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN})

T = TypeVar("T")


class PeerClosed(Exception):
    """The peer closed the connection before the last byte."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"the connection ended {missing} bytes early")
        self.missing = missing


class _Stopped(Exception):
    """The event loop asked the thread to stop (its task was cancelled)."""


class SocketWaiter:
    """poll(2) on a socket and on the pump's wake-up fd, under a WaitGuard."""

    def __init__(self, sock_fd: int, wake_fd: int, guard: WaitGuard) -> None:
        self._sock_fd = sock_fd
        self._wake_fd = wake_fd
        self._guard = guard
        self._readable = select.poll()
        self._readable.register(sock_fd, select.POLLIN | select.POLLRDHUP)
        self._readable.register(wake_fd, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(sock_fd, select.POLLOUT)
        self._writable.register(wake_fd, select.POLLIN)

    def wait_readable(self) -> None:
        self._wait(self._readable)

    def wait_writable(self) -> None:
        self._wait(self._writable)

    def moved(self, nbytes: int) -> None:
        self._guard.moved(nbytes)

    def _wait(self, poller: select.poll) -> None:
        limit = self._guard.wait_limit_s()
        started = time.monotonic()
        timeout_ms = None if limit == float("inf") else max(0, int(limit * 1000) + 1)
        ready = poller.poll(timeout_ms)
        if any(fd == self._wake_fd for fd, _ in ready):
            raise _Stopped
        self._guard.waited(time.monotonic() - started, timed_out=not ready)

    def send_all(self, data: memoryview, on_sent: Callable[[int], None] | None = None) -> None:
        """Write all of `data` to the (non-blocking) socket, waiting as it fills;
        `on_sent(n)` after each write that took `n` bytes."""
        while data:
            sent = self._retrying(partial(os.write, self._sock_fd, data), self.wait_writable)
            data = data[sent:]
            self.moved(sent)
            if on_sent is not None:
                on_sent(sent)

    def receive_into(self, buffer: memoryview) -> int:
        """Read what the socket has into `buffer` (waiting for some); 0 at its end."""
        got = self._retrying(partial(os.readv, self._sock_fd, [buffer]), self.wait_readable)
        self.moved(got)
        return got

    @staticmethod
    def _retrying(call: Callable[[], int], wait: Callable[[], None]) -> int:
        """`call()` on the non-blocking socket, waiting while it would block; a peer
        that went away is trio's BrokenResourceError."""
        while True:
            try:
                return call()
            except BlockingIOError:
                wait()
            except OSError as exc:
                if exc.errno in BROKEN_ERRNOS:
                    raise trio.BrokenResourceError(str(exc)) from exc
                raise


async def run_pump(
    loop: Callable[[SocketWaiter], T],
    sock: trio.socket.SocketType,
    guard: WaitGuard,
    limiter: trio.CapacityLimiter,
) -> T:
    """Run the blocking `loop(waiter)` in a worker thread; cancellable at any time (the
    thread stops before this returns, so the caller may close its files)."""
    wake_fd = os.eventfd(0, os.EFD_CLOEXEC)
    waiter = SocketWaiter(sock.fileno(), wake_fd, guard)
    stopped = False
    result: list[T] = []

    async def stop_when_cancelled() -> None:
        try:
            await trio.sleep_forever()
        finally:
            os.eventfd_write(wake_fd, 1)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_when_cancelled)
            try:
                result.append(await trio.to_thread.run_sync(loop, waiter, limiter=limiter))
            except _Stopped:
                stopped = True
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None
    finally:
        os.close(wake_fd)
    if stopped:
        await trio.lowlevel.checkpoint()  # raises the Cancelled that stopped the thread
        raise trio.BrokenResourceError("the transfer was stopped")  # pragma: no cover
    return result[0]


def run_limiter(
    var: trio.lowlevel.RunVar[trio.CapacityLimiter], tokens: int
) -> trio.CapacityLimiter:
    """This trio run's limiter held in `var` (made on first use)."""
    try:
        return var.get()
    except LookupError:
        limiter = trio.CapacityLimiter(tokens)
        var.set(limiter)
        return limiter


class ProgressRelay:
    """Bytes moved by a worker thread, reported to `progress` from the event loop."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self._progress = progress
        self._moved = 0  # written by the thread, read by the reporting task
        self._reported = 0

    def add(self, nbytes: int) -> None:
        """Called by the thread after each chunk."""
        self._moved += nbytes

    async def report(self) -> None:
        """Run next to the pump; cancel it when the pump is done (it reports the rest)."""
        if self._progress is None:
            return
        try:
            while True:
                await trio.sleep(PROGRESS_INTERVAL_S)
                self._flush()
        finally:
            self._flush()

    def _flush(self) -> None:
        moved = self._moved
        if moved > self._reported and self._progress is not None:
            self._progress(moved - self._reported)
            self._reported = moved
