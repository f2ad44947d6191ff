"""A message's payload into a file, by the fastest path the connection allows.

Server uploads (both ports) and client downloads end the same way once a head is read:
the first chunk is taken the usual way (for a raw upload it is the one whose ftyp box
the decoder checks before any byte may be stored), then

- **plain TCP, 1 MiB or more left**: the bytes read along with the head are written,
  then the rest is spliced from the socket into the file by a worker thread
  (splice_receive.py) and hashed, when asked, by a second thread reading it back from
  the page cache (hash_follower.py); the payload never becomes Python objects;
- **otherwise** (a small payload, an unknown wrapper): the event loop receives and a
  worker thread writes and hashes batches of chunks (os.writev and hashlib release the
  GIL), with a small bound on chunks in flight so memory stays flat whatever the size.

Either way the decoder sees every byte accounted for and reports the message's end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import trio

from app.protocol import MessageEnd, PayloadChunk
from app.protocol.receive_buffer import PayloadDecoder
from app.wire.atomic_write import AtomicFile
from app.wire.event_reader import EventReader
from app.wire.exception_groups import sole_exception
from app.wire.hash_follower import HashFollower
from app.wire.splice_receive import PeerClosed, run_limiter, splice_available, splice_into_file
from app.wire.transport import SocketBelow, socket_below

ProgressCallback = Callable[[int], None]

# Below this, a payload is not worth the worker threads: receive it in the event loop.
SPLICE_MIN_BYTES: Final = 1024 * 1024
PROGRESS_INTERVAL_S: Final = 0.1
# Chunks (up to RECEIVE_SIZE each) waiting for the writer thread, per transfer.
MAX_CHUNKS_IN_FLIGHT: Final = 4
# Hash followers have their own threads: one waits on its transfer's pump, so sharing
# the pumps' (or trio's default) limiter could leave every token with a waiting follower.
MAX_FOLLOWERS: Final = 256
_FOLLOWERS: Final[trio.lowlevel.RunVar[trio.CapacityLimiter]] = trio.lowlevel.RunVar(
    "hash_followers"
)


async def receive_payload(
    reader: EventReader[Any], sink: AtomicFile, progress: ProgressCallback | None = None
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
    below = socket_below(reader.stream)
    if (
        below is not None
        and below.sealed is None
        and splice_available()
        and reader.decoder.payload.left >= SPLICE_MIN_BYTES
    ):
        for chunk in buffered_payload(reader.decoder):
            _write(sink, chunk, progress)
        await _splice_rest(reader, below, sink, progress)
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


def _write(sink: AtomicFile, data: bytes, progress: ProgressCallback | None) -> None:
    sink.write(data)
    if progress is not None:
        progress(len(data))


async def _receive_in_loop(
    reader: EventReader[Any], sink: AtomicFile, progress: ProgressCallback | None
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


async def _splice_rest(
    reader: EventReader[Any],
    below: SocketBelow,
    sink: AtomicFile,
    progress: ProgressCallback | None,
) -> None:
    """Splice the rest of the payload into `sink`'s end and hash it as it lands."""
    payload = reader.decoder.payload
    left = payload.left
    fd = sink.fd
    assert fd is not None
    digest = sink.digest
    follower = HashFollower(fd, sink.size, digest) if digest is not None else None
    landed = [0]  # written by the worker thread, read by the progress task

    def written(nbytes: int) -> None:
        sink.written_elsewhere(nbytes)
        landed[0] += nbytes
        if follower is not None:
            follower.advance(nbytes)

    async def report_progress() -> None:
        assert progress is not None
        reported = 0
        try:
            while True:
                await trio.sleep(PROGRESS_INTERVAL_S)
                now = landed[0]
                progress(now - reported)
                reported = now
        finally:
            if landed[0] > reported:
                progress(landed[0] - reported)

    guard = below.receive_guard(reader.idle_timeout_s)
    try:
        try:
            async with trio.open_nursery() as nursery:
                if follower is not None:
                    nursery.start_soon(_follow, follower)
                if progress is not None:
                    nursery.start_soon(report_progress)
                try:
                    await splice_into_file(below.socket, fd, left, guard, written)
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
    except PeerClosed as closed:
        # The decoder tells the truncation as it would have seen it byte by byte.
        payload.skip(left - closed.missing)
        reader.decoder.feed(b"")
        reader.decoder.next_event()
        raise AssertionError("a truncated payload decoded") from None
    payload.skip(left)
    end = await reader.next_event()
    assert isinstance(end, MessageEnd), end  # the raw decoder ends with one too


async def _follow(follower: HashFollower) -> None:
    await trio.to_thread.run_sync(follower.run, limiter=run_limiter(_FOLLOWERS, MAX_FOLLOWERS))
