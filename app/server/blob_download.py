"""Sending a stored blob as a download's payload, from whichever blob store holds it.

A local file leaves by sendfile (MessageStream.send_file). An object store's blob
arrives in pieces read by a worker thread; they go out in batches of whole
1,400-byte units (docs/protocol.md), only the last batch shorter, one piece read ahead.
"""

from __future__ import annotations

from typing import Final

import trio

from app.server.stores.blob_store import BlobSource
from app.wire.exception_groups import sole_exception
from app.wire.file_sender import SEND_BATCH
from app.wire.secure_stream import PLAINTEXT_BATCH, SecureStream
from app.wire.stream import MessageStream

READ_SIZE: Final = 1024 * 1024


class BlobEndedEarly(OSError):
    """The store gave fewer bytes than the blob's recorded size."""


async def send_blob(ms: MessageStream, source: BlobSource, size: int) -> None:
    """Send exactly `size` bytes of `source` as the current message's payload."""
    if source.file is not None:
        await ms.send_file(source.file, size)
        return
    batch = PLAINTEXT_BATCH if isinstance(ms.stream, SecureStream) else SEND_BATCH
    send, receive = trio.open_memory_channel[bytes](1)

    async def read_ahead() -> None:
        async with send:
            left = size
            while left > 0:
                piece = await source.read(min(READ_SIZE, left))
                if not piece:
                    raise BlobEndedEarly(f"blob ended {left} bytes short of {size}")
                left -= len(piece)
                await send.send(piece)

    async def send_batches() -> None:
        pending = bytearray()
        sent = 0
        async with receive:
            async for piece in receive:
                pending += piece
                whole = len(pending) - len(pending) % batch
                if sent + len(pending) == size:
                    whole = len(pending)  # the end: the last batch may be short
                for start in range(0, whole, batch):
                    await ms.stream.send_all(pending[start : min(start + batch, whole)])
                sent += whole
                del pending[:whole]

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_ahead)
            await send_batches()
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None
