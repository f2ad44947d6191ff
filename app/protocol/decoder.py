"""Incremental, sans-IO MMP decoder (SPEC §2.1), in the style of h11.

Feed bytes as they arrive with `feed`, then call `next_event` until it returns
NEED_DATA. Header, JSON and media type are buffered (at most 64 + 65,536 + 255
bytes); payload bytes pass straight through as PayloadChunk events, so a
payload is never held whole. `feed(b"")` marks the end of the stream.
"""

from __future__ import annotations

import enum

from app.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from app.protocol.events import (
    NEED_DATA,
    ConnectionClosed,
    Event,
    MessageEnd,
    MessageHead,
    NeedData,
    PayloadChunk,
)
from app.protocol.header import Dialect, Header, decode_header, detect_dialect
from app.protocol.json_doc import decode_json_object
from app.protocol.media_type import parse_media_type
from app.protocol.receive_buffer import PayloadCursor, ReceiveBuffer


class _State(enum.Enum):
    HEADER = enum.auto()
    BODY = enum.auto()
    PAYLOAD = enum.auto()
    CLOSED = enum.auto()
    ERROR = enum.auto()


class MessageDecoder:
    """Turns a byte stream into MessageHead / PayloadChunk / MessageEnd events."""

    def __init__(self) -> None:
        self._buffer = ReceiveBuffer()
        self.payload = PayloadCursor(self._buffer)
        self._state = _State.HEADER
        self._header: Header | None = None
        self.last_dialect: Dialect | None = None

    @property
    def in_message(self) -> bool:
        """True between a message's first header byte and its MessageEnd."""
        return self._state in (_State.BODY, _State.PAYLOAD) or (
            self._state is _State.HEADER and len(self._buffer) > 0
        )

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet handed out (at most a header, JSON and media type)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer.feed(data)

    def take_trailing_data(self) -> bytes:
        """Hand over the bytes buffered past the last whole message (as h11's trailing_data).

        Used when the stream switches protocol between messages (to sealed records after
        a key exchange, docs/security.md): what arrived early belongs to the new layer.
        """
        if self._state is not _State.HEADER:
            raise LocalProtocolError("trailing data is only defined between messages")
        return self._buffer.take_all()

    def _truncated(self) -> RemoteProtocolError:
        return RemoteProtocolError(
            ErrorCode.TRUNCATED,
            "The connection ended in the middle of a message.",
            "Send the whole message: header, JSON, media type and every payload byte "
            "the header declares.",
        )

    def next_event(self) -> Event | NeedData:
        try:
            return self._next_event()
        except RemoteProtocolError:
            self._state = _State.ERROR
            raise

    def _next_event(self) -> Event | NeedData:
        if self._state is _State.ERROR:
            raise LocalProtocolError("decoder already failed")
        if self._state is _State.CLOSED:
            return ConnectionClosed()
        if self._state is _State.HEADER:
            return self._read_header()
        if self._state is _State.BODY:
            return self._read_body()
        return self._read_payload()

    def _read_header(self) -> Event | NeedData:
        buffer = self._buffer
        first_two = buffer.peek(2)
        if first_two is None:
            if buffer.eof:
                if len(buffer):
                    raise self._truncated()
                self._state = _State.CLOSED
                return ConnectionClosed()
            return NEED_DATA
        dialect = detect_dialect(first_two)
        if len(buffer) < dialect.size:
            if buffer.eof:
                raise self._truncated()
            return NEED_DATA
        self.last_dialect = dialect
        self._header = decode_header(buffer.take(dialect.size), dialect)
        self._state = _State.BODY
        return self._read_body()

    def _read_body(self) -> Event | NeedData:
        header = self._header
        assert header is not None
        buffer = self._buffer
        if len(buffer) < header.json_size + header.media_type_size:
            if buffer.eof:
                raise self._truncated()
            return NEED_DATA
        doc = decode_json_object(buffer.take(header.json_size))
        media_type = ""
        if header.media_type_size:
            media_type = parse_media_type(buffer.take(header.media_type_size))
        self.payload.start(header.payload_size)
        self._state = _State.PAYLOAD
        return MessageHead(header.dialect, doc, media_type, header.payload_size)

    def _read_payload(self) -> Event | NeedData:
        if self.payload.left == 0:
            self.payload.end()
            self._state = _State.HEADER
            self._header = None
            return MessageEnd()
        data = self.payload.take_chunk()
        if not data:
            if self._buffer.eof:
                raise self._truncated()
            return NEED_DATA
        return PayloadChunk(data)
