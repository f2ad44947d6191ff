"""A message's payload into a file, by the fastest path the connection allows.

Server uploads (both ports) and client downloads end the same way once a head is read:
the first chunk is taken the usual way (for a raw upload it is the one whose ftyp box
the decoder checks before any byte may be stored), then, with 1 MiB or more left,

- **plain TCP**: the bytes read along with the head are written, then the rest is
  spliced from the socket into the file by a worker thread (splice_receive.py) and
  hashed, when asked, by a second thread reading it back from the page cache
  (hash_follower.py); the payload never becomes Python objects;
- **sealed**: the bytes read and opened along with the head are written, then one
  worker thread receives, opens, writes and hashes the rest (sealed_pump.py);
- **otherwise** (a small payload, an unknown wrapper): the event loop receives and a
  worker thread writes and hashes batches of chunks (os.writev and hashlib release the
  GIL), with a small bound on chunks in flight so memory stays flat whatever the size.

Either way the decoder sees every byte accounted for and reports the message's end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

import trio

from app.protocol import MessageEnd, PayloadChunk
from app.protocol.receive_buffer import PayloadDecoder
from app.wire.event_reader import EventReader
from app.wire.exception_groups import sole_exception
from app.wire.hash_follower import HashFollower, follow
from app.wire.sealed_pump import receive_sealed_into
from app.wire.secure_stream import SecureStream
from app.wire.splice_receive import splice_available, splice_into_file
from app.wire.thread_pump import BULK_MIN_BYTES, PeerClosed, ProgressRelay
from app.wire.transport import SocketBelow, socket_below

if TYPE_CHECKING:
    import hashlib

ProgressCallback = Callable[[int], None]


class PayloadSink(Protocol):
    """Where a payload lands: an AtomicFile (app/files/atomic_write.py) or a blob store's
    upload. `fd` is a local file worker threads may append to (splice, sealed pump);
    None sends every byte through `write`/`write_batch` (an object store's parts)."""

    @property
    def fd(self) -> int | None: ...

    @property
    def size(self) -> int: ...

    @property
    def digest(self) -> hashlib._Hash | None: ...

    def write(self, data: bytes) -> None: ...

    def write_batch(self, chunks: list[bytes]) -> None: ...

    def written_elsewhere(self, nbytes: int) -> None: ...


# Chunks (up to RECEIVE_SIZE each) waiting for the writer thread, per transfer.
MAX_CHUNKS_IN_FLIGHT: Final = 4


async def receive_payload(
    reader: EventReader[Any], sink: PayloadSink, progress: ProgressCallback | None = None
) -> None:
    """Receive the current message's payload into `sink` (not committed), up to its end.

    `progress(n)` runs in the event loop as bytes arrive (for user interfaces). A peer
    closing early raises the decoder's `truncated` error.
    """
    first = await reader.next_event()
    if isinstance(first, MessageEnd):
        return
    assert isinstance(first, PayloadChunk), first
    _write(sink, first.data, progress)
    # Worker threads append to a local file only (an object store takes `write_batch`).
    below = socket_below(reader.stream) if sink.fd is not None else None
    if below is not None and reader.decoder.payload.left >= BULK_MIN_BYTES:
        if below.sealed is None and splice_available():
            for chunk in buffered_payload(reader.decoder):
                _write(sink, chunk, progress)
            await _splice_rest(reader, below, sink, progress)
            return
        if below.sealed is reader.stream:
            for chunk in buffered_payload(reader.decoder):
                _write(sink, chunk, progress)
            if await _open_rest(reader, below.sealed, below, sink, progress):
                return
    await _receive_in_loop(reader, sink, progress)


def buffered_payload(decoder: PayloadDecoder[Any]) -> list[bytes]:
    """Payload bytes already read with the head: written before the rest goes around."""
    chunks = []
    while decoder.payload.buffered:
        event = decoder.next_event()
        assert isinstance(event, PayloadChunk), event
        chunks.append(event.data)
    return chunks


def _write(sink: PayloadSink, data: bytes, progress: ProgressCallback | None) -> None:
    sink.write(data)
    if progress is not None:
        progress(len(data))


async def _receive_in_loop(
    reader: EventReader[Any], sink: PayloadSink, progress: ProgressCallback | None
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
                await trio.to_thread.run_sync(sink.write_batch, batch)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_batches)
            async with send:
                while True:
                    event = await reader.next_event()
                    if isinstance(event, MessageEnd):
                        break
                    assert isinstance(event, PayloadChunk), event
                    await send.send(event.data)
                    if progress is not None:
                        progress(len(event.data))
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None


@contextlib.asynccontextmanager
async def _landing(
    sink: PayloadSink, progress: ProgressCallback | None
) -> AsyncIterator[Callable[[int], None]]:
    """For bytes a worker thread appends to `sink` itself: the callback it calls after
    each chunk (any thread). The chunks are counted, reported to `progress` from the
    event loop, and hashed by a second thread reading them back from the page cache
    (hash_follower.py), so hashing overlaps the transfer instead of following it."""
    fd = sink.fd
    assert fd is not None
    digest = sink.digest
    follower = HashFollower(fd, sink.size, digest) if digest is not None else None
    relay = ProgressRelay(progress)

    def written(nbytes: int) -> None:
        sink.written_elsewhere(nbytes)
        relay.add(nbytes)
        if follower is not None:
            follower.advance(nbytes)

    try:
        async with trio.open_nursery() as nursery:
            if follower is not None:
                nursery.start_soon(follow, follower)
            nursery.start_soon(relay.report)
            try:
                yield written
            except BaseException:
                if follower is not None:
                    follower.abort()
                raise
            finally:
                if follower is not None:
                    follower.close()
            nursery.cancel_scope.cancel()  # the progress task; the follower ends itself
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None


async def _splice_rest(
    reader: EventReader[Any],
    below: SocketBelow,
    sink: PayloadSink,
    progress: ProgressCallback | None,
) -> None:
    """Splice the rest of the payload into `sink`'s end and hash it as it lands."""
    payload = reader.decoder.payload
    left = payload.left
    fd = sink.fd
    assert fd is not None
    guard = below.receive_guard(reader.idle_timeout_s)
    try:
        async with _landing(sink, progress) as written:
            await splice_into_file(below.socket, fd, left, guard, written)
    except PeerClosed as closed:
        # The decoder tells the truncation as it would have seen it byte by byte.
        payload.skip(left - closed.missing)
        reader.decoder.feed(b"")
        reader.decoder.next_event()
        raise AssertionError("a truncated payload decoded") from None
    payload.skip(left)
    end = await reader.next_event()
    assert isinstance(end, MessageEnd), end  # the raw decoder ends with one too


async def _open_rest(
    reader: EventReader[Any],
    secure: SecureStream,
    below: SocketBelow,
    sink: PayloadSink,
    progress: ProgressCallback | None,
) -> bool:
    """Open the rest of the payload into `sink` in a worker thread; False when the
    sealed stream cannot hand over (the caller then reads it the usual way)."""
    payload = reader.decoder.payload
    opened = secure.take_opened(payload.left)  # what came with the head: no I/O
    if opened:
        _write(sink, opened, progress)
        payload.skip(len(opened))
    if payload.left == 0:
        return False  # the usual path ends the message
    fd = sink.fd
    assert fd is not None
    guard = below.receive_guard(reader.idle_timeout_s)
    async with _landing(sink, progress) as written:
        received = await receive_sealed_into(secure, below, fd, payload.left, guard, written)
    if received is None:
        return False  # the stream cannot hand over: the usual path tells why
    payload.skip(received.payload_bytes)
    if received.plaintext_after:  # the next message's first bytes, opened with the last
        reader.decoder.feed(received.plaintext_after)
    if payload.left:
        return False  # cut short (close record, end of stream): the usual path says so
    end = await reader.next_event()
    assert isinstance(end, MessageEnd), end
    return True
