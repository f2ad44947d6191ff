"""A trio Stream that seals what it sends and opens what it receives (SPEC §6).

Wraps the connection once the key exchange is done, so MessageStream and every
request handler work unchanged on plaintext while the socket carries only sealed
records (app/protocol/secure/records.py). Like trio's SSLStream, the raw stream is
`transport_stream`.
"""

from __future__ import annotations

from typing import Final

import trio

from app.protocol import ConnectionClosed, NeedData, RemoteProtocolError
from app.protocol.secure import RecordOpener, RecordSealer, Session, fingerprint
from app.protocol.secure.records import MAX_PLAINTEXT

RAW_RECEIVE_SIZE: Final = 256 * 1024
# Payloads sent through `send_all` (when no pump can take them, app/wire/file_sender.py)
# go in batches of this many full records: a whole number of 1,400-byte units each.
RECORDS_PER_SEND: Final = 4
PLAINTEXT_BATCH: Final = RECORDS_PER_SEND * MAX_PLAINTEXT
# aclose() sends the close record only if the socket takes it at once.
CLOSE_RECORD_TIMEOUT_S: Final = 1.0


class SecureStream(trio.abc.HalfCloseableStream):
    """Sealed records on `transport_stream`, plaintext to the caller.

    A refused record (altered, dropped, replayed, reordered) raises RemoteProtocolError
    with code `bad_record` once; the stream is broken after that. An end of the raw
    stream without the peer's close record raises RemoteProtocolError(`truncated`).
    """

    def __init__(
        self, transport_stream: trio.abc.Stream, session: Session, received: bytes = b""
    ) -> None:
        self.transport_stream = transport_stream
        self.session = session
        self._sealer = session.sealer()
        self._opener = session.opener()
        if received:
            self._opener.feed(received)
        self._pending = b""  # opened plaintext the caller has not taken yet
        self._peer_closed = False
        self._receive_broken = False
        self._eof_sent = False
        # True while a send_all is under way, and forever if it was interrupted: the
        # peer then holds half a record and a close record would only confuse it.
        self._send_interrupted = False

    @property
    def peer_fingerprint(self) -> str:
        return fingerprint(self.session.peer_key)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_sent:
            raise trio.ClosedResourceError("send_all() after send_eof()")
        if self._send_interrupted:
            raise trio.BrokenResourceError("an earlier send was interrupted mid-record")
        if not data:
            await trio.lowlevel.checkpoint()
            return
        sealed = self._sealer.seal(data)
        self._send_interrupted = True
        await self.transport_stream.send_all(sealed)
        self._send_interrupted = False

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """Send the close record (an authenticated end), then half-close the socket."""
        if self._eof_sent:
            await trio.lowlevel.checkpoint()
            return
        self._eof_sent = True
        await self.transport_stream.send_all(self._sealer.seal_close())
        if isinstance(self.transport_stream, trio.abc.HalfCloseableStream):
            await self.transport_stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = RAW_RECEIVE_SIZE if max_bytes is None else max_bytes
        if limit < 1:
            raise ValueError("max_bytes must be at least 1")
        if self._receive_broken:
            raise trio.BrokenResourceError("an earlier record was refused")
        while True:
            opened = self._take_opened(limit)
            if opened or self._peer_closed:
                await trio.lowlevel.checkpoint()
                return opened
            self._opener.feed(await self.transport_stream.receive_some(RAW_RECEIVE_SIZE))

    # A bulk transfer (app/wire/sealed_pump.py) takes one direction over for a while:
    # the worker thread seals or opens with this session's state, then hands it back.

    def claim_sealer(self) -> RecordSealer:
        """The sealer, for a thread that sends records itself until `release_sealer`."""
        if self._eof_sent:
            raise trio.ClosedResourceError("send after send_eof()")
        if self._send_interrupted:
            raise trio.BrokenResourceError("an earlier send was interrupted mid-record")
        self._send_interrupted = True  # stays set if the transfer is cut short
        return self._sealer

    def release_sealer(self) -> None:
        self._send_interrupted = False

    def take_opened(self, limit: int) -> bytes:
        """Up to `limit` bytes of plaintext from records already received (no I/O)."""
        if self._receive_broken:
            raise trio.BrokenResourceError("an earlier record was refused")
        return self._take_opened(limit)

    def claim_opener(self) -> tuple[RecordOpener, bytes] | None:
        """The opener and the ciphertext it holds, for a thread that receives and opens
        records itself until `release_opener`; None when this stream cannot hand over
        (opened plaintext still pending, the peer's stream ended, or a refusal)."""
        if self._pending or self._peer_closed or self._receive_broken or self._opener.ended:
            return None
        return self._opener, self._opener.take_buffered()

    def release_opener(self, ciphertext: bytes, transport_ended: bool) -> None:
        """Give back what the thread received and did not open (it comes first)."""
        if ciphertext:
            self._opener.feed(ciphertext)
        if transport_ended:
            self._opener.feed(b"")

    def break_receive(self) -> None:
        """A record was refused while opened elsewhere: the stream is broken, as here."""
        self._receive_broken = True

    def _take_opened(self, limit: int) -> bytes:
        """Up to `limit` bytes of plaintext from records already received (no I/O)."""
        pieces: list[bytes] = []
        size = 0
        if self._pending:
            pieces.append(self._pending[:limit])
            self._pending = self._pending[limit:]
            size = len(pieces[0])
        while size < limit:
            try:
                record = self._opener.next_record()
            except RemoteProtocolError:
                self._receive_broken = True
                raise
            if isinstance(record, NeedData):
                break
            if isinstance(record, ConnectionClosed):
                self._peer_closed = True
                break
            room = limit - size
            if len(record) > room:
                self._pending = record[room:]
                record = record[:room]
            pieces.append(record)
            size += len(record)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def aclose(self) -> None:
        """Send the close record when possible, then close the socket (even if cancelled)."""
        try:
            if not (self._eof_sent or self._send_interrupted):
                self._eof_sent = True
                with trio.move_on_after(CLOSE_RECORD_TIMEOUT_S):
                    await self.transport_stream.send_all(self._sealer.seal_close())
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            pass
        finally:
            await self.transport_stream.aclose()
