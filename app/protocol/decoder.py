"""Incremental, sans-IO MMP decoder (SPEC §2.1), in the style of h11.

Feed bytes as they arrive with `feed`, then call `next_event` until it returns
NEED_DATA. Header, JSON and media type are buffered (at most 64 + 65,536 + 255
bytes); payload bytes pass straight through as PayloadChunk events, so a
payload is never held whole. `feed(b"")` marks the end of the stream.
"""

from __future__ import annotations

import enum
from collections import deque

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


class _State(enum.Enum):
    HEADER = enum.auto()
    BODY = enum.auto()
    PAYLOAD = enum.auto()
    CLOSED = enum.auto()
    ERROR = enum.auto()


class MessageDecoder:
    """Turns a byte stream into MessageHead / PayloadChunk / MessageEnd events."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._available = 0
        self._eof = False
        self._state = _State.HEADER
        self._header: Header | None = None
        self._payload_left = 0
        self.last_dialect: Dialect | None = None

    @property
    def in_message(self) -> bool:
        """True between a message's first header byte and its MessageEnd."""
        return self._state in (_State.BODY, _State.PAYLOAD) or (
            self._state is _State.HEADER and self._available > 0
        )

    @property
    def payload_left(self) -> int:
        return self._payload_left if self._state is _State.PAYLOAD else 0

    def feed(self, data: bytes) -> None:
        if self._eof:
            raise LocalProtocolError("feed() after end of stream")
        if not data:
            self._eof = True
            return
        self._chunks.append(bytes(data))
        self._available += len(data)

    def take_trailing_data(self) -> bytes:
        """Hand over the bytes buffered past the last whole message (as h11's trailing_data).

        Used when the stream switches protocol between messages (to sealed records after
        a key exchange, docs/security.md): what arrived early belongs to the new layer.
        """
        if self._state is not _State.HEADER:
            raise LocalProtocolError("trailing data is only defined between messages")
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._available = 0
        return data

    @property
    def payload_buffered(self) -> bool:
        """True when payload bytes of the current message wait in the buffer."""
        return self._state is _State.PAYLOAD and self._payload_left > 0 and self._available > 0

    def skip_payload(self, n: int) -> None:
        """Account for `n` payload bytes the caller read from the transport itself.

        For a payload moved without passing through Python (splice into a file): only
        inside a payload, with nothing buffered, and at most what the payload has left.
        """
        if (
            self._state is not _State.PAYLOAD
            or self._available
            or not 0 <= n <= (self._payload_left)
        ):
            raise LocalProtocolError("skip_payload() outside a payload, or past its end")
        self._payload_left -= n

    def _peek(self, n: int) -> bytes | None:
        if self._available < n:
            return None
        if len(self._chunks[0]) < n:
            joined = self._take(self._available)
            self._chunks.appendleft(joined)
            self._available = len(joined)
        return self._chunks[0][:n]

    def _take(self, n: int) -> bytes:
        """Remove exactly n buffered bytes (caller checked they are there)."""
        first = self._chunks[0]
        if len(first) == n:
            self._chunks.popleft()
            self._available -= n
            return first
        if len(first) > n:
            self._chunks[0] = first[n:]
            self._available -= n
            return first[:n]
        parts: list[bytes] = []
        need = n
        while need:
            chunk = self._chunks.popleft()
            if len(chunk) > need:
                self._chunks.appendleft(chunk[need:])
                chunk = chunk[:need]
            parts.append(chunk)
            need -= len(chunk)
        self._available -= n
        return b"".join(parts)

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
        first_two = self._peek(2)
        if first_two is None:
            if self._eof:
                if self._available:
                    raise self._truncated()
                self._state = _State.CLOSED
                return ConnectionClosed()
            return NEED_DATA
        dialect = detect_dialect(first_two)
        if self._available < dialect.size:
            if self._eof:
                raise self._truncated()
            return NEED_DATA
        self.last_dialect = dialect
        self._header = decode_header(self._take(dialect.size), dialect)
        self._state = _State.BODY
        return self._read_body()

    def _read_body(self) -> Event | NeedData:
        header = self._header
        assert header is not None
        body_size = header.json_size + header.media_type_size
        if self._available < body_size:
            if self._eof:
                raise self._truncated()
            return NEED_DATA
        doc = decode_json_object(self._take(header.json_size))
        media_type = ""
        if header.media_type_size:
            media_type = parse_media_type(self._take(header.media_type_size))
        self._payload_left = header.payload_size
        self._state = _State.PAYLOAD
        return MessageHead(header.dialect, doc, media_type, header.payload_size)

    def _read_payload(self) -> Event | NeedData:
        if self._payload_left == 0:
            self._state = _State.HEADER
            self._header = None
            return MessageEnd()
        if not self._available:
            if self._eof:
                raise self._truncated()
            return NEED_DATA
        first = self._chunks[0]
        data = self._take(min(len(first), self._payload_left))
        self._payload_left -= len(data)
        return PayloadChunk(data)
