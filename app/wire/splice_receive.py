"""Payload bytes from a TCP socket straight into a file, with splice(2) through a pipe.

`receive_some` + `write` copy every byte twice through Python memory and wake the event
loop per read. splice moves the socket's pages into a pipe and the kernel copies them
once into the page cache; one worker thread runs the loop, so the event loop stays
free for other connections and the bytes never become Python objects. On loopback this
moves ~2.4 GB/s where recv + write manage ~1.8 GB/s (bench/net.py).

The thread waits for the socket under the caller's WaitGuard (idle and slow-transfer
rules) and stops at once when its task is cancelled (thread_pump.py). A file system
that cannot take splice(2) gets the pipe's bytes with read/write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from typing import Final

import trio

from app.wire.thread_pump import PeerClosed, SocketWaiter, run_limiter, run_pump
from app.wire.wait_guard import WaitGuard

CHUNK: Final = 1024 * 1024
# Threads for splicing, apart from trio's default limiter (40, shared by file writes and
# probes): a transfer's hash follower (hash_follower.py) waits on its pump, so pumps
# must never queue behind followers. Transfers beyond this wait their turn (TCP holds
# the bytes); each pump mostly sleeps in poll(2).
MAX_PUMPS: Final = 256
_PUMPS: Final[trio.lowlevel.RunVar[trio.CapacityLimiter]] = trio.lowlevel.RunVar("splice_pumps")
F_SETPIPE_SZ: Final = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+ on Linux; not in typeshed)
_SPLICE_FLAGS: Final = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


def splice_available() -> bool:
    return hasattr(os, "splice") and hasattr(os, "eventfd")


@contextlib.contextmanager
def _pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep 64 KiB
            fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
        yield r, w
    finally:
        os.close(r)
        os.close(w)


def _drain_pipe(r: int, out_fd: int, n: int, use_splice: bool) -> bool:
    """Move n bytes from the pipe into the file; returns whether splice still works."""
    while n:
        if use_splice:
            try:
                n -= os.splice(r, out_fd, n)
                continue
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                use_splice = False  # this file system takes no splice: copy from here on
        data = os.read(r, n)
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view) :]
        n -= len(data)
    return use_splice


def _pump(
    waiter: SocketWaiter, sock_fd: int, out_fd: int, size: int, on_written: Callable[[int], None]
) -> None:
    """Blocking loop (worker thread): moves exactly `size` bytes, or raises."""
    left = size
    use_splice = True
    with _pipe() as (r, w):
        while left:
            try:
                n = os.splice(sock_fd, w, min(CHUNK, left), flags=_SPLICE_FLAGS)
            except BlockingIOError:
                waiter.wait_readable()
                continue
            if n == 0:
                raise PeerClosed(left)
            use_splice = _drain_pipe(r, out_fd, n, use_splice)
            left -= n
            waiter.moved(n)
            on_written(n)


async def splice_into_file(
    sock: trio.socket.SocketType,
    out_fd: int,
    size: int,
    guard: WaitGuard,
    on_written: Callable[[int], None] = lambda n: None,
) -> None:
    """Receive exactly `size` bytes from `sock` into `out_fd` at its current offset.

    `on_written(n)` runs in the worker thread after each chunk reaches the file. Raises
    PeerClosed, OSError (e.g. ENOSPC) or what the guard raises; cancellable at any time
    (the thread stops before the call returns, so the caller may close the file).
    """
    sock_fd = sock.fileno()
    await run_pump(
        lambda waiter: _pump(waiter, sock_fd, out_fd, size, on_written),
        sock,
        guard,
        run_limiter(_PUMPS, MAX_PUMPS),
    )


__all__ = ["splice_available", "splice_into_file"]
