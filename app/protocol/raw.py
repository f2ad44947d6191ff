"""Sans-IO raw upload protocol (SPEC §2.2): a 32-byte size prefix, an MP4 file, a status.

The client sends the file's size in one of three 32-byte forms, then the file; the
server answers with one 16-byte status message and closes. `RawUploadDecoder` turns
the client's bytes into a `RawUploadHead`, `PayloadChunk`s and a `MessageEnd`,
refusing a bad prefix or a file that does not start with an MP4 `ftyp` box.

The three prefix forms are told apart by where the zero bytes are:

- bytes 4..31 all zero: a 4-byte big-endian size followed by 28 zero bytes;
- else byte 0 is zero: a 32-byte big-endian size;
- else ASCII decimal digits, padded to 32 bytes: leading spaces or zeros, trailing
  spaces, NULs, tabs, CR or LF (e.g. `str(n).rjust(32)`, `str(n).zfill(32)`,
  `str(n).ljust(32)`, a zeroed C buffer after `snprintf`).

ASCII never contains a NUL byte before its digits, so it never starts with a zero byte,
and its bytes 4..31 are zero only when it is 1-4 digits padded with NULs: that is byte
for byte a 4-byte integer, and it is read as one (see docs/protocol.md).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from app.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from app.protocol.events import (
    NEED_DATA,
    ConnectionClosed,
    MessageEnd,
    NeedData,
    PayloadChunk,
)
from app.protocol.receive_buffer import PayloadCursor, ReceiveBuffer

SIZE_PREFIX_SIZE: Final = 32
STATUS_SIZE: Final = 16
# SPEC §2.2: "≤ 2^32 bytes", inclusive.
MAX_RAW_FILE_SIZE: Final = 2**32
# An ISO BMFF box header (size, type) plus the ftyp major brand and minor version.
FTYP_CHECK_SIZE: Final = 16
# Real ftyp boxes hold a handful of compatible brands (20-40 bytes).
MAX_FTYP_BOX_SIZE: Final = 1024
MAX_STATUS_REASON: Final = 11

_ASCII_SIZE_RE: Final = re.compile(rb" *([0-9]+)[ \t\r\n\x00]*")
_STATUS_RE: Final = re.compile(rb"([1-5][0-9]{2}) ([ -~]{0,11})\n")


class SizeEncoding(enum.Enum):
    BINARY32 = "32-byte big-endian"
    ASCII = "ASCII decimal"
    BINARY4 = "4-byte big-endian + 28 zero bytes"


@dataclass(frozen=True, slots=True)
class RawUploadHead:
    """The declared file size, and which of the three prefix forms carried it."""

    size: int
    encoding: SizeEncoding


RawEvent = RawUploadHead | PayloadChunk | MessageEnd | ConnectionClosed


def _not_mp4(why: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        ErrorCode.NOT_MP4,
        f"The file is not an MP4: {why}.",
        "Send an MP4 file (it starts with an 'ftyp' box); convert other formats first, "
        "e.g. `ffmpeg -i in.mkv -c copy out.mp4`.",
    )


def decode_size_prefix(prefix: bytes) -> RawUploadHead:
    """Read the 32-byte size prefix in any of its three forms; refuse impossible sizes."""
    if len(prefix) != SIZE_PREFIX_SIZE:
        raise LocalProtocolError(f"the size prefix is {SIZE_PREFIX_SIZE} bytes, got {len(prefix)}")
    if not any(prefix[4:]):
        head = RawUploadHead(int.from_bytes(prefix[:4], "big"), SizeEncoding.BINARY4)
    elif prefix[0] == 0:
        head = RawUploadHead(int.from_bytes(prefix, "big"), SizeEncoding.BINARY32)
    else:
        match = _ASCII_SIZE_RE.fullmatch(prefix)
        if match is None:
            raise RemoteProtocolError(
                ErrorCode.BAD_HEADER,
                "The 32-byte size prefix is none of the three accepted forms.",
                "Send the size as a 32-byte big-endian integer (or ASCII digits padded to "
                "32 bytes, or a 4-byte big-endian integer and 28 zero bytes), then the file.",
            )
        head = RawUploadHead(int(match.group(1)), SizeEncoding.ASCII)
    if head.size > MAX_RAW_FILE_SIZE:
        raise RemoteProtocolError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The prefix declares {head.size} bytes; raw uploads are at most 2^32 bytes.",
            "Split the file, or upload it over MMP (port 9000), which takes larger files.",
        )
    if head.size < FTYP_CHECK_SIZE:
        raise _not_mp4(f"{head.size} bytes is too small to hold an ftyp box")
    return head


def encode_size_prefix(size: int, encoding: SizeEncoding = SizeEncoding.BINARY32) -> bytes:
    """The prefix a client sends; our client uses the 32-byte big-endian form."""
    if not 0 <= size <= MAX_RAW_FILE_SIZE:
        raise LocalProtocolError(f"raw upload size {size} out of range")
    if encoding is SizeEncoding.BINARY32:
        return size.to_bytes(SIZE_PREFIX_SIZE, "big")
    if encoding is SizeEncoding.ASCII:
        return str(size).rjust(SIZE_PREFIX_SIZE).encode("ascii")
    if size >= 2**32:
        raise LocalProtocolError("the 4-byte form cannot carry 2^32")
    return size.to_bytes(4, "big") + bytes(SIZE_PREFIX_SIZE - 4)


def check_ftyp(first: bytes, file_size: int) -> None:
    """Refuse a file whose first 16 bytes are not an MP4 `ftyp` box header (SPEC §2.2)."""
    if file_size < FTYP_CHECK_SIZE or len(first) < FTYP_CHECK_SIZE:
        raise _not_mp4(f"{file_size} bytes is too small to hold an ftyp box")
    if first[4:8] != b"ftyp":
        raise _not_mp4("it does not start with an 'ftyp' box")
    box_size = int.from_bytes(first[:4], "big")
    # size, type, major brand, minor version, then 4-byte compatible brands.
    if not FTYP_CHECK_SIZE <= box_size <= min(file_size, MAX_FTYP_BOX_SIZE) or box_size % 4:
        raise _not_mp4(f"its ftyp box claims an impossible size ({box_size} bytes)")
    if not all(0x20 <= b < 0x7F for b in first[8:12]):
        raise _not_mp4("its ftyp major brand is not four printable characters")


class _State(enum.Enum):
    PREFIX = enum.auto()
    FTYP = enum.auto()
    PAYLOAD = enum.auto()
    DONE = enum.auto()
    CLOSED = enum.auto()
    ERROR = enum.auto()


class RawUploadDecoder:
    """Bytes of one raw upload in, events out. Nothing is buffered beyond what was fed
    and not yet handed out; once the prefix and the ftyp box check out, fed chunks pass
    straight through as PayloadChunk events.

    Bytes after the declared size are dropped (counted in `trailing_bytes`): the
    server answers once the file is complete.
    """

    def __init__(self) -> None:
        self._buffer = ReceiveBuffer()
        self.payload = PayloadCursor(self._buffer)
        self._state = _State.PREFIX
        self._fed = 0
        self.head: RawUploadHead | None = None
        self.trailing_bytes = 0

    @property
    def bytes_received(self) -> int:
        """Every byte of the connection so far: fed, or moved by the caller (skipped)."""
        return self._fed + self.payload.skipped

    @property
    def started(self) -> bool:
        """True once the first byte arrived: from then on the upload is in progress."""
        return self.bytes_received > 0 and self._state not in (_State.DONE, _State.CLOSED)

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet handed out (at most a prefix and an ftyp box header)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if self._state is _State.DONE and data:
            if self._buffer.eof:
                raise LocalProtocolError("feed() after end of stream")
            self._fed += len(data)
            self.trailing_bytes += len(data)
            return
        self._buffer.feed(data)
        self._fed += len(data)

    def _truncated(self) -> RemoteProtocolError:
        return RemoteProtocolError(
            ErrorCode.TRUNCATED,
            "The connection ended before the declared number of bytes arrived.",
            "Send exactly as many bytes as the size prefix declares.",
        )

    def next_event(self) -> RawEvent | NeedData:
        try:
            return self._next_event()
        except RemoteProtocolError:
            self._state = _State.ERROR
            raise

    def _next_event(self) -> RawEvent | NeedData:
        state, buffer = self._state, self._buffer
        if state is _State.ERROR:
            raise LocalProtocolError("decoder already failed")
        if state is _State.CLOSED:
            return ConnectionClosed()
        if state is _State.DONE:
            return NEED_DATA
        if state is _State.PREFIX:
            if len(buffer) < SIZE_PREFIX_SIZE:
                return self._wait(closed_ok=len(buffer) == 0)
            self.head = decode_size_prefix(buffer.take(SIZE_PREFIX_SIZE))
            self._state = _State.FTYP
            return self.head
        if state is _State.FTYP:
            assert self.head is not None
            first = buffer.peek(FTYP_CHECK_SIZE)
            if first is None:
                return self._wait()
            check_ftyp(first, self.head.size)
            self.payload.start(self.head.size)
            self._state = _State.PAYLOAD
        if self.payload.left == 0:
            self.payload.end()
            self._state = _State.DONE
            self.trailing_bytes += buffer.clear()
            return MessageEnd()
        data = self.payload.take_chunk()
        if not data:
            return self._wait()
        return PayloadChunk(data)

    def _wait(self, closed_ok: bool = False) -> ConnectionClosed | NeedData:
        if not self._buffer.eof:
            return NEED_DATA
        if closed_ok:
            self._state = _State.CLOSED
            return ConnectionClosed()
        raise self._truncated()


# --- the 16-byte status message -------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawStatus:
    """`DDD reason` padded with spaces to 15 bytes, then a newline: 16 ASCII bytes."""

    code: int
    reason: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


STORED: Final = RawStatus(200, "stored")

# The status each refusal is answered with; codes follow HTTP's meanings.
STATUS_FOR_ERROR: Final[dict[ErrorCode, RawStatus]] = {
    ErrorCode.BAD_HEADER: RawStatus(400, "bad size"),
    ErrorCode.TRUNCATED: RawStatus(400, "truncated"),
    ErrorCode.TIMEOUT: RawStatus(408, "timeout"),
    ErrorCode.TOO_SLOW: RawStatus(408, "too slow"),
    ErrorCode.PAYLOAD_TOO_LARGE: RawStatus(413, "too large"),
    ErrorCode.NOT_MP4: RawStatus(415, "not mp4"),
    ErrorCode.TOO_MANY_CONNECTIONS: RawStatus(429, "ip limit"),
    ErrorCode.INTERNAL: RawStatus(500, "internal"),
    ErrorCode.BUSY: RawStatus(503, "busy"),
    ErrorCode.SERVER_SHUTTING_DOWN: RawStatus(503, "stopping"),
    ErrorCode.QUOTA_EXCEEDED: RawStatus(507, "quota full"),
    ErrorCode.DISK_FULL: RawStatus(507, "disk full"),
}


def status_for_error(code: ErrorCode) -> RawStatus:
    return STATUS_FOR_ERROR.get(code, STATUS_FOR_ERROR[ErrorCode.INTERNAL])


def error_code_for_status(status: RawStatus) -> ErrorCode | None:
    """The refusal a status stands for (None for success or a status we do not know)."""
    for code, known in STATUS_FOR_ERROR.items():
        if known == status:
            return code
    return None


def encode_status(status: RawStatus) -> bytes:
    reason = status.reason
    if not 100 <= status.code <= 599:
        raise LocalProtocolError(f"status code {status.code} out of range")
    if len(reason) > MAX_STATUS_REASON or not all(" " <= ch <= "~" for ch in reason):
        raise LocalProtocolError(f"status reason {reason!r} is not ≤ 11 printable ASCII")
    return f"{status.code} {reason}".ljust(STATUS_SIZE - 1).encode("ascii") + b"\n"


def decode_status(raw: bytes) -> RawStatus:
    """Parse the server's 16-byte answer; RemoteProtocolError when it is not one."""
    match = _STATUS_RE.fullmatch(raw) if len(raw) == STATUS_SIZE else None
    if match is None:
        raise RemoteProtocolError(
            ErrorCode.BAD_HEADER,
            f"The server's answer {raw[:STATUS_SIZE]!r} is not a 16-byte raw status.",
            "Check that the address is a vcs-serve raw upload port (default 9001).",
        )
    return RawStatus(int(match.group(1)), match.group(2).decode("ascii").rstrip(" "))
