"""Storing a payload while it arrives, by the fastest path the connection allows.

Plain TCP, 1 MiB or more: once the bytes read along with the request's head are
written, the rest is spliced from the socket into the file by a worker thread and
hashed, when asked, by a second thread reading it back (app/wire/payload_splice.py):
the payload never becomes Python objects and the event loop only waits.

Otherwise (a sealed stream, the raw port's reader): the event loop receives and a
worker thread writes and hashes batches of chunks (os.writev and hashlib release the
GIL), with a small bound on chunks in flight so memory stays flat whatever the size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

import trio

from app.protocol import MessageEnd, PayloadChunk
from app.server.metrics import Metrics
from app.server.quota import UploadReservation
from app.server.storage import PartialFile
from app.server.transfer_rate import RateGuardedStream
from app.wire.exception_groups import sole_exception
from app.wire.payload_splice import (
    SpliceableDecoder,
    buffered_payload,
    splice_rest_of_payload,
    worth_splicing,
)

# Chunks (up to RECEIVE_SIZE each) waiting for the writer thread, per upload.
MAX_CHUNKS_IN_FLIGHT: Final = 4


class PayloadSource(Protocol):
    """An MMP MessageStream or the raw port's event reader: PayloadChunks, then MessageEnd."""

    @property
    def stream(self) -> trio.abc.Stream: ...

    @property
    def decoder(self) -> SpliceableDecoder: ...

    @property
    def idle_timeout_s(self) -> float: ...

    async def next_event(self) -> object: ...


# Told the bytes received so far, in the event loop, as they arrive (at least every
# 0.1 s); it raises to stop the upload (e.g. the quota cannot hold more).
ReceivedCallback = Callable[[int], None]


def counting_received(
    metrics: Metrics, port: str, reservation: UploadReservation
) -> ReceivedCallback:
    """As payload bytes arrive: grow the upload's quota, count them for the metrics."""
    counted = 0

    def received(total: int) -> None:
        nonlocal counted
        reservation.grow(total)
        metrics.count_received(port, total - counted)
        counted = total

    return received


async def store_payload(
    source: PayloadSource, partial: PartialFile, on_received: ReceivedCallback = lambda n: None
) -> None:
    """Receive the current message's payload into `partial` (not yet committed)."""
    # The first chunk the usual way: for a raw upload it is the one whose ftyp box the
    # decoder checks before any byte may be stored.
    first = await source.next_event()
    if isinstance(first, MessageEnd):
        return
    assert isinstance(first, PayloadChunk), first
    received = len(first.data)
    on_received(received)
    partial.write(first.data)
    stream = source.stream
    sock = worth_splicing(source, stream.inner) if isinstance(stream, RateGuardedStream) else None
    if sock is None:
        await _receive_payload(source, partial, received, on_received)
        return
    assert isinstance(stream, RateGuardedStream) and partial.fd is not None
    for chunk in buffered_payload(source):
        received += len(chunk)
        on_received(received)
        partial.write(chunk)

    def spliced(nbytes: int) -> None:
        nonlocal received
        received += nbytes
        on_received(received)

    await splice_rest_of_payload(
        source,
        sock,
        partial.fd,
        partial.digest,
        stream.receive_guard(source.idle_timeout_s),
        partial.written_elsewhere,
        progress=spliced,
    )


async def _receive_payload(
    ms: PayloadSource, partial: PartialFile, received: int, on_received: ReceivedCallback
) -> None:
    """The rest of the payload through the event loop, written by a worker thread."""
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
                    received += len(event.data)
                    on_received(received)
                    await send.send(event.data)
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None
