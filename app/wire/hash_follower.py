"""Hashing a file while another thread writes it: read back from the page cache.

When a payload is spliced into a file (splice_receive.py) or sent with sendfile(2)
(file_sender.py) its bytes never reach Python, so they are hashed from the file. A
second thread follows the transfer: it reads each range as soon as the transfer
reports it and feeds the hash, so hashing (the
slowest step: SHA-256 runs ~1.4 GB/s on a core with SHA-NI) overlaps receiving
instead of following it. The writer never waits for the hash; the pages it reads
are usually still in the page cache, and read again from disk when not.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Final

import trio

from app.wire.thread_pump import run_limiter

if TYPE_CHECKING:
    import hashlib

READ_SIZE: Final = 256 * 1024
# Followers have their own threads: one waits on its transfer's pump, so sharing the
# pumps' (or trio's default) limiter could leave every token with a waiting follower.
MAX_FOLLOWERS: Final = 256
_FOLLOWERS: Final[trio.lowlevel.RunVar[trio.CapacityLimiter]] = trio.lowlevel.RunVar(
    "hash_followers"
)


class HashFollower:
    """Feeds `digest` with the bytes of `fd` from `start`, as `advance` reports them."""

    def __init__(self, fd: int, start: int, digest: hashlib._Hash) -> None:
        self._fd = fd
        self._pos = start
        self._end = start
        self._digest = digest
        self._closed = False
        self._aborted = False
        self._cond = threading.Condition()

    def advance(self, nbytes: int) -> None:
        """The writer appended `nbytes` (any thread)."""
        with self._cond:
            self._end += nbytes
            self._cond.notify()

    def close(self) -> None:
        """No more bytes: `run` returns once it has hashed everything written."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def abort(self) -> None:
        """The result is not wanted: `run` returns as soon as it can."""
        with self._cond:
            self._aborted = self._closed = True
            self._cond.notify()

    def run(self) -> None:
        """The follower's loop (blocking: run it in a worker thread)."""
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        while True:
            with self._cond:
                while self._pos == self._end and not self._closed:
                    self._cond.wait()
                if self._aborted or self._pos == self._end:
                    return
                end = self._end
            while self._pos < end:
                got = os.preadv(self._fd, [view[: min(READ_SIZE, end - self._pos)]], self._pos)
                if got == 0:
                    raise OSError(f"file shorter than the {end} bytes written to it")
                self._digest.update(view[:got])
                self._pos += got
                if self._aborted:
                    return


async def follow(follower: HashFollower) -> None:
    """Run `follower` in its own worker thread until it has hashed what it was told."""
    await trio.to_thread.run_sync(follower.run, limiter=run_limiter(_FOLLOWERS, MAX_FOLLOWERS))
