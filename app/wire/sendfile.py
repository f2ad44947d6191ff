"""Zero-copy file sending: sendfile(2) from the page cache straight to the socket.

The kernel cuts the stream into TCP_MAXSEG-sized (1,400-byte) segments; each call
hands it many whole 1,400-byte units (SPEC §2), and the payload never passes through
Python memory.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import BinaryIO, Final

import trio

from app.protocol import limits
from app.wire.wait_guard import IdleGuard, WaitGuard

# Units handed to one sendfile call: 1,400 × 1,024 ≈ 1.4 MB.
UNITS_PER_CALL: Final = 1024
CALL_SIZE: Final = limits.PACKET_SIZE * UNITS_PER_CALL


def can_sendfile(file: BinaryIO) -> bool:
    if not hasattr(os, "sendfile"):
        return False
    try:
        file.fileno()
    except (OSError, ValueError):
        return False
    return True


async def sendfile_all(
    sock: trio.socket.SocketType,
    file: BinaryIO,
    size: int,
    progress: Callable[[int], None] | None = None,
    guard: WaitGuard | None = None,
) -> None:
    """Send exactly `size` bytes of `file` from its current position.

    Waits for the peer to take more go by `guard` (default: no limit).
    """
    guard = guard if guard is not None else IdleGuard()
    in_fd = file.fileno()
    offset = file.tell()
    end = offset + size
    while offset < end:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            sent = os.sendfile(sock.fileno(), in_fd, offset, min(CALL_SIZE, end - offset))
        except BlockingIOError:
            started = trio.current_time()
            with trio.move_on_after(guard.wait_limit_s()) as waiting:
                await trio.lowlevel.wait_writable(sock)
            guard.waited(trio.current_time() - started, timed_out=waiting.cancelled_caught)
            continue
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise trio.BrokenResourceError(str(exc)) from exc
            raise
        if sent == 0:
            raise OSError(f"file ended {end - offset} bytes early")
        offset += sent
        guard.moved(sent)
        if progress is not None:
            progress(sent)
    file.seek(offset)
