"""Sealed payloads moved by one worker thread each way: the fast encrypted path.

The plaintext path splices and sendfiles so the event loop never touches a payload
byte; a sealed payload must pass through the cipher, but it can still stay out of the
event loop. One worker thread per transfer runs the whole loop with buffers it reuses:

- sending (client uploads, server downloads): read the file into a plaintext buffer,
  hash it when asked, seal it with `encrypt_into` straight into the output buffer
  (RecordSealer.seal_into) and write the batch of whole records to the socket — one
  system call per ~1 MiB, a whole number of 1,400-byte units (SPEC §2);
- receiving (server uploads, client downloads): read the socket into a buffer, open
  every whole record in it with `decrypt_into` (RecordOpener.open_into) and write the
  plaintext to the file with one call; the caller's `on_written` lets a second thread
  hash it from the page cache meanwhile (payload_receive.py).

The thread waits for the socket with poll(2) under the connection's WaitGuard (idle and
slow-transfer rules) and stops at once when its trio task is cancelled (thread_pump.py).
The record layer stays sans-IO: its state (keys, sequence numbers) is used by the
thread while the event loop leaves that direction of the SecureStream alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Final

import trio

from app.protocol.secure.records import MAX_PLAINTEXT, MAX_RECORD_SIZE
from app.wire.exception_groups import sole_exception
from app.wire.secure_stream import SecureStream
from app.wire.thread_pump import ProgressRelay, SocketWaiter, run_limiter, run_pump
from app.wire.transport import SocketBelow
from app.wire.wait_guard import WaitGuard

# Full records per batch: ~1 MiB of plaintext, one write(2) each.
RECORDS_PER_BATCH: Final = 16
PLAINTEXT_BATCH: Final = RECORDS_PER_BATCH * MAX_PLAINTEXT
SEALED_BATCH: Final = RECORDS_PER_BATCH * MAX_RECORD_SIZE
# Reads from the socket: up to this much at once, never less than a whole record.
RECEIVE_BUFFER: Final = RECORDS_PER_BATCH * MAX_RECORD_SIZE
MAX_PUMPS: Final = 256
_PUMPS: Final[trio.lowlevel.RunVar[trio.CapacityLimiter]] = trio.lowlevel.RunVar("sealed_pumps")


async def send_sealed_file(
    secure: SecureStream,
    below: SocketBelow,
    file: BinaryIO,
    size: int,
    guard: WaitGuard,
    progress: Callable[[int], None] | None = None,
    digest: hashlib._Hash | None = None,
) -> None:
    """Seal and send exactly `size` bytes of `file` from its position (in a thread)."""
    sealer = secure.claim_sealer()
    relay = ProgressRelay(progress)
    in_fd = file.fileno()

    def pump(waiter: SocketWaiter) -> None:
        plain = bytearray(min(PLAINTEXT_BATCH, size))
        sealed = bytearray(sealer.sealed_size(len(plain)))
        plain_view, sealed_view = memoryview(plain), memoryview(sealed)
        left = size
        while left:
            got = os.readv(in_fd, [plain_view[: min(len(plain), left)]])
            if got == 0:
                raise OSError(f"file ended {left} bytes early")
            if digest is not None:
                digest.update(plain_view[:got])
            end = sealer.seal_into(plain_view[:got], sealed_view)
            # Progress by whole records as the socket takes them (a stalled peer shows
            # where it stalled), and the batch's rest once it is all gone.
            batch = _RecordProgress(relay, got)
            waiter.send_all(sealed_view[:end], batch.sent)
            batch.done()
            left -= got

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.report)
            await run_pump(pump, below.socket, guard, run_limiter(_PUMPS, MAX_PUMPS))
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise sole_exception(group) from None
    secure.release_sealer()


class _RecordProgress:
    """Plaintext bytes of a sealed batch reported as its whole records leave."""

    def __init__(self, relay: ProgressRelay, plaintext: int) -> None:
        self._relay = relay
        self._plaintext = plaintext
        self._sealed_sent = 0
        self._reported = 0

    def sent(self, nbytes: int) -> None:
        self._sealed_sent += nbytes
        whole = min(self._plaintext, (self._sealed_sent // MAX_RECORD_SIZE) * MAX_PLAINTEXT)
        if whole > self._reported:
            self._relay.add(whole - self._reported)
            self._reported = whole

    def done(self) -> None:
        self._relay.add(self._plaintext - self._reported)
        self._reported = self._plaintext


@dataclass(frozen=True, slots=True)
class Received:
    """What a receiving pump leaves for the layers above it."""

    payload_bytes: int  # written to the file
    plaintext_after: bytes  # opened bytes past the payload: the next message's start
    ciphertext_after: bytes  # received bytes not opened (a partial record, or past CLOSE)
    transport_ended: bool  # the socket ended (without a close record: a truncation)


async def receive_sealed_into(
    secure: SecureStream,
    below: SocketBelow,
    out_fd: int,
    size: int,
    guard: WaitGuard,
    on_written: Callable[[int], None],
) -> Received | None:
    """Receive up to `size` payload bytes through the sealed layer into `out_fd`.

    Stops at the payload's end, at the peer's close record or at the socket's end;
    returns what it moved and what it read past the payload, which the caller hands on
    (the stream then reports the truncation, or goes on with the next message). None,
    having done nothing, when the stream cannot hand its receiving side over.
    """
    claimed = secure.claim_opener()
    if claimed is None:
        return None
    opener, pending = claimed

    def pump(waiter: SocketWaiter) -> Received:
        buffer = bytearray(max(RECEIVE_BUFFER, len(pending)))
        plain = bytearray(RECEIVE_BUFFER)
        view, plain_view = memoryview(buffer), memoryview(plain)
        view[: len(pending)] = pending
        start, end, left = 0, len(pending), size
        ended = False
        while True:
            used, opened, closed = opener.open_into(view[start:end], plain_view)
            start += used
            take = min(opened, left)
            if take:
                _write_all(out_fd, plain_view[:take])
                left -= take
                on_written(take)
            if take < opened or left == 0 or closed:
                return Received(
                    size - left, bytes(plain_view[take:opened]), bytes(view[start:end]), ended
                )
            if used:  # records were opened: more may wait in the buffer
                continue
            if ended:
                return Received(size - left, b"", bytes(view[start:end]), ended)
            if start:  # keep the partial record at the front, room behind it
                view[: end - start] = view[start:end]
                start, end = 0, end - start
            got = waiter.receive_into(view[end:])
            ended = got == 0
            end += got

    try:
        received = await run_pump(pump, below.socket, guard, run_limiter(_PUMPS, MAX_PUMPS))
    except BaseException:
        # Refused, cut, timed out or cancelled mid-record: nothing more can be opened.
        secure.break_receive()
        raise
    secure.release_opener(received.ciphertext_after, received.transport_ended)
    return received


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]
