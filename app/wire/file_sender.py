"""Streaming a file to a peer in batches of whole 1,400-byte units (SPEC §2).

Used for MMP payloads (MessageStream.send_file: client uploads, server downloads) and
raw uploads alike, by the fastest path the connection allows:

- plain TCP: sendfile(2) from the page cache (the payload never enters Python), hashed
  when asked by a second thread reading the same pages (hash_follower.py);
- sealed, 1 MiB or more: one worker thread reads, hashes, seals and sends
  (sealed_pump.py);
- otherwise (a small sealed payload, an unknown wrapper): the event loop reads and
  sends batches of whole records (or units), hashing as it goes.

`digest`, when given, is fed every byte sent, in order: the client hashes an upload
while sending it (the SHA-256 goes in the trailer, docs/protocol.md) instead of reading
the file twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import BinaryIO, Final

import trio

from app.protocol import limits
from app.wire.exception_groups import sole_exception
from app.wire.hash_follower import HashFollower, follow
from app.wire.sealed_pump import send_sealed_file
from app.wire.secure_stream import PLAINTEXT_BATCH, SecureStream
from app.wire.sendfile import can_sendfile, sendfile_all
from app.wire.thread_pump import BULK_MIN_BYTES
from app.wire.transport import socket_below
from app.wire.wait_guard import WaitGuard

# Payloads go to the socket in batches of whole 1,400-byte units (SPEC §2).
UNITS_PER_SEND: Final = 64
SEND_BATCH: Final = limits.PACKET_SIZE * UNITS_PER_SEND

ProgressCallback = Callable[[int], None]


async def send_file(
    stream: trio.abc.SendStream,
    file: BinaryIO,
    size: int,
    progress: ProgressCallback | None = None,
    digest: hashlib._Hash | None = None,
) -> None:
    """Send exactly `size` bytes of `file` from its position; `progress(n)` as they go."""
    below = socket_below(stream) if isinstance(stream, trio.abc.Stream) else None
    if below is not None and can_sendfile(file):
        if below.sealed is None:
            await _sendfile_hashed(below.socket, file, size, below.send_guard(), progress, digest)
            return
        if size >= BULK_MIN_BYTES:
            guard = below.send_guard()
            await send_sealed_file(below.sealed, below, file, size, guard, progress, digest)
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
        if digest is not None:
            digest.update(view[:got])
        await stream.send_all(view[:got])
        sent += got
        if progress is not None:
            progress(got)


async def _sendfile_hashed(
    sock: trio.socket.SocketType,
    file: BinaryIO,
    size: int,
    guard: WaitGuard,
    progress: ProgressCallback | None,
    digest: hashlib._Hash | None,
) -> None:
    """sendfile(2), with a follower thread hashing the pages it sent."""
    if digest is None:
        await sendfile_all(sock, file, size, progress, guard)
        return
    follower = HashFollower(file.fileno(), file.tell(), digest)

    def sent(nbytes: int) -> None:
        follower.advance(nbytes)
        if progress is not None:
            progress(nbytes)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow, follower)
            try:
                await sendfile_all(sock, file, size, sent, guard)
            except BaseException:
                follower.abort()
                raise
            finally:
                follower.close()
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None
