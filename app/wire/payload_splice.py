"""The rest of an MMP payload, spliced from a plain TCP socket into a file and hashed.

Server uploads and client downloads both end the same way once the head is read and the
bytes that came with it are written: splice the remainder into the file in one worker
thread (splice_receive.py), hash it from the page cache in another (hash_follower.py),
then tell the decoder those bytes went by so it reports the message's end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

import trio

from app.protocol import MessageEnd, PayloadChunk
from app.wire.exception_groups import sole_exception
from app.wire.hash_follower import HashFollower
from app.wire.splice_receive import (
    PeerClosed,
    run_limiter,
    splice_available,
    splice_into_file,
)
from app.wire.wait_guard import WaitGuard

if TYPE_CHECKING:
    import hashlib

# Below this, a payload is not worth the worker threads: receive it in the event loop.
SPLICE_MIN_BYTES: Final = 1024 * 1024
PROGRESS_INTERVAL_S: Final = 0.1
# Hash followers have their own threads: one waits on its transfer's pump, so sharing
# the pumps' (or trio's default) limiter could leave every token with a waiting follower.
MAX_FOLLOWERS: Final = 256
_FOLLOWERS: Final[trio.lowlevel.RunVar[trio.CapacityLimiter]] = trio.lowlevel.RunVar(
    "hash_followers"
)


class SpliceableDecoder(Protocol):
    """A sans-IO decoder whose payload may bypass it (MessageDecoder, RawUploadDecoder)."""

    @property
    def payload_left(self) -> int: ...

    @property
    def payload_buffered(self) -> bool: ...

    def skip_payload(self, n: int) -> None: ...

    def feed(self, data: bytes) -> None: ...

    def next_event(self) -> object: ...


class PayloadReader(Protocol):
    """A decoder driven from a connection (MessageStream, the raw port's reader)."""

    @property
    def decoder(self) -> SpliceableDecoder: ...

    async def next_event(self) -> object: ...


def worth_splicing(ms: PayloadReader, stream: trio.abc.Stream) -> trio.socket.SocketType | None:
    """The socket to splice from, when `stream` (under `ms`) is plain TCP and enough is left."""
    if (
        splice_available()
        and type(stream) is trio.SocketStream
        and ms.decoder.payload_left >= SPLICE_MIN_BYTES
    ):
        return stream.socket
    return None


def buffered_payload(ms: PayloadReader) -> list[bytes]:
    """Payload bytes already read with the head: the caller writes them before splicing."""
    chunks = []
    while ms.decoder.payload_buffered:
        event = ms.decoder.next_event()
        assert isinstance(event, PayloadChunk), event
        chunks.append(event.data)
    return chunks


async def splice_rest_of_payload(
    ms: PayloadReader,
    sock: trio.socket.SocketType,
    fd: int,
    digest: hashlib._Hash | None,
    guard: WaitGuard,
    on_written: Callable[[int], None] = lambda n: None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Receive the rest of the current payload into `fd` (at its end), up to MessageEnd.

    `fd` must be open for reading too when `digest` is given: that is fed the new bytes
    from the file, in order, by the time this
    returns. `on_written(n)` runs in the worker thread as bytes land; `progress(n)` runs
    in the event loop (for user interfaces), every PROGRESS_INTERVAL_S and at the end.
    A peer closing early raises the decoder's `truncated` error.
    """
    left = ms.decoder.payload_left
    offset = _file_end(fd)
    follower = HashFollower(fd, offset, digest) if digest is not None else None
    landed = [0]  # written by the worker thread, read by the progress task

    def written(nbytes: int) -> None:
        on_written(nbytes)
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

    try:
        try:
            async with trio.open_nursery() as nursery:
                if follower is not None:
                    nursery.start_soon(_follow, follower)
                if progress is not None:
                    nursery.start_soon(report_progress)
                try:
                    await splice_into_file(sock, fd, left, guard, written)
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
        ms.decoder.skip_payload(left - closed.missing)
        ms.decoder.feed(b"")
        ms.decoder.next_event()
        raise AssertionError("a truncated payload decoded") from None
    ms.decoder.skip_payload(left)
    end = await ms.next_event()
    assert isinstance(end, MessageEnd), end  # the raw decoder ends with one too


async def _follow(follower: HashFollower) -> None:
    await trio.to_thread.run_sync(follower.run, limiter=run_limiter(_FOLLOWERS, MAX_FOLLOWERS))


def _file_end(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_CUR)
