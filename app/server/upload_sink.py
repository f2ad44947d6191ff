"""Storing a payload while it arrives: the event loop receives, a worker thread writes.

Writing to the page cache and hashing cost about as much CPU as receiving. Done in the
event loop they would halve upload speed; here they run in a thread (os.writev and
hashlib release the GIL) on batches of chunks, while the loop keeps reading the socket.
A small bound on chunks in flight keeps memory flat whatever the file size.
"""

from __future__ import annotations

from typing import Final, Protocol

import trio

from app.protocol import MessageEnd, PayloadChunk
from app.server.storage import PartialFile
from app.wire.exception_groups import sole_exception

# Chunks (up to RECEIVE_SIZE each) waiting for the writer thread, per upload.
MAX_CHUNKS_IN_FLIGHT: Final = 4


class PayloadSource(Protocol):
    """An MMP MessageStream, or the raw upload's event reader: PayloadChunks, then MessageEnd."""

    async def next_event(self) -> object: ...


async def store_payload(ms: PayloadSource, partial: PartialFile) -> None:
    """Receive the current message's payload into `partial` (not yet committed)."""
    send, receive = trio.open_memory_channel[bytes](MAX_CHUNKS_IN_FLIGHT)

    async def write_batches() -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                while True:
                    try:
                        batch.append(receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                # Not cancellable mid-write: the thread finishes its batch, then the
                # caller's cleanup deletes the partial file.
                await trio.to_thread.run_sync(partial.write_batch, batch)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_batches)
            async with send:
                while True:
                    event = await ms.next_event()
                    if isinstance(event, MessageEnd):
                        break
                    assert isinstance(event, PayloadChunk), event
                    await send.send(event.data)
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None
