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

# Units handed to one sendfile call: 1,400 × 1,024 ≈ 1.4 MB.
UNITS_PER_CALL: Final = 1024
CALL_SIZE: Final = limits.PACKET_SIZE * UNITS_PER_CALL


def can_sendfile(stream: trio.abc.Stream, file: BinaryIO) -> bool:
    """Only a plain TCP socket and a real file: not a sealed (encrypted) stream."""
    if not hasattr(os, "sendfile") or type(stream) is not trio.SocketStream:
        return False
    try:
        file.fileno()
    except (OSError, ValueError):
        return False
    return True


async def sendfile_all(
    stream: trio.SocketStream,
    file: BinaryIO,
    size: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Send exactly `size` bytes of `file` from its current position."""
    sock = stream.socket
    in_fd = file.fileno()
    offset = file.tell()
    end = offset + size
    while offset < end:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            sent = os.sendfile(sock.fileno(), in_fd, offset, min(CALL_SIZE, end - offset))
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                raise trio.BrokenResourceError(str(exc)) from exc
            raise
        if sent == 0:
            raise OSError(f"file ended {end - offset} bytes early")
        offset += sent
        if progress is not None:
            progress(sent)
    file.seek(offset)
