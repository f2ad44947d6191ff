"""Streaming a file to a peer in batches of whole 1,400-byte units (SPEC §2).

Used for MMP payloads (MessageStream.send_file) and raw uploads alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO, Final

import trio

from app.protocol import limits
from app.wire.secure_stream import PLAINTEXT_BATCH, SecureStream
from app.wire.sendfile import can_sendfile, sendfile_all
from app.wire.transport import socket_below

# Payloads go to the socket in batches of whole 1,400-byte units (SPEC §2).
UNITS_PER_SEND: Final = 64
SEND_BATCH: Final = limits.PACKET_SIZE * UNITS_PER_SEND


async def send_file(
    stream: trio.abc.SendStream,
    file: BinaryIO,
    size: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Send exactly `size` bytes of `file`; `progress(n)` after each batch."""
    below = socket_below(stream) if isinstance(stream, trio.abc.Stream) else None
    if below is not None and below.sealed is None and can_sendfile(file):
        # Zero-copy on plain sockets, under the rules of the wrappers it bypasses.
        await sendfile_all(below.socket, file, size, progress, below.send_guard())
        return
    # Sealed: batches of whole records, which are whole 1,400-byte units on the wire.
    batch = PLAINTEXT_BATCH if isinstance(stream, SecureStream) else SEND_BATCH
    buffer = bytearray(batch)
    view = memoryview(buffer)
    fd = file.fileno()
    sent = 0
    while sent < size:
        want = min(batch, size - sent)
        got = os.readv(fd, [view[:want]])
        if got == 0:
            raise OSError(f"file ended after {sent} of {size} bytes")
        await stream.send_all(view[:got])
        sent += got
        if progress is not None:
            progress(got)
