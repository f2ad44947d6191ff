"""The MMP message header in both dialects of docs/protocol.md: pure functions on bytes."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.protocol import limits
from app.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError


class Dialect(enum.Enum):
    """Which header a peer speaks; an answer always uses the dialect of its request."""

    HEADER64 = 64  # the seed's 64-byte header; our own clients speak it
    HEADER8 = 8  # the 64-bit header most other implementations speak

    @property
    def size(self) -> int:
        return limits.HEADER64_SIZE if self is Dialect.HEADER64 else limits.HEADER8_SIZE

    @property
    def max_json_size(self) -> int:
        if self is Dialect.HEADER64:
            return limits.MAX_JSON_SIZE
        return limits.MAX_JSON_SIZE_HEADER8

    @property
    def max_payload_size(self) -> int:
        if self is Dialect.HEADER64:
            return limits.MAX_PAYLOAD_SIZE
        return limits.MAX_PAYLOAD_SIZE_HEADER8


@dataclass(frozen=True, slots=True)
class Header:
    json_size: int
    media_type_size: int
    payload_size: int
    dialect: Dialect


def detect_dialect(first_two: bytes) -> Dialect:
    """64-byte headers start with two zero bytes (JSON size ≤ 65,536); 8-byte ones never do."""
    if len(first_two) < 2:
        raise LocalProtocolError("need two bytes to tell the dialects apart")
    return Dialect.HEADER64 if first_two[0] == 0 and first_two[1] == 0 else Dialect.HEADER8


def _fields(dialect: Dialect) -> tuple[int, int, int]:
    if dialect is Dialect.HEADER64:
        return (
            limits.HEADER64_JSON_FIELD,
            limits.HEADER64_MEDIA_TYPE_FIELD,
            limits.HEADER64_PAYLOAD_FIELD,
        )
    return (
        limits.HEADER8_JSON_FIELD,
        limits.HEADER8_MEDIA_TYPE_FIELD,
        limits.HEADER8_PAYLOAD_FIELD,
    )


def decode_header(raw: bytes | bytearray | memoryview, dialect: Dialect) -> Header:
    """Parse and check one header; raise RemoteProtocolError with the code to answer."""
    raw = bytes(raw)
    if len(raw) != dialect.size:
        raise LocalProtocolError(f"header needs {dialect.size} bytes, got {len(raw)}")
    json_field, mt_field, _ = _fields(dialect)
    json_size = int.from_bytes(raw[:json_field], "big")
    media_type_size = raw[json_field]
    payload_size = int.from_bytes(raw[json_field + mt_field :], "big")
    if not limits.MIN_JSON_SIZE <= json_size <= dialect.max_json_size:
        raise RemoteProtocolError(
            ErrorCode.JSON_SIZE,
            f"The header declares a JSON size of {json_size} bytes; "
            f"it must be {limits.MIN_JSON_SIZE}..{dialect.max_json_size}.",
            "Send one JSON object of at most 64 KiB, and check the header's byte order "
            "(sizes are unsigned big-endian).",
        )
    if media_type_size > limits.MAX_MEDIA_TYPE_SIZE:
        raise RemoteProtocolError(
            ErrorCode.BAD_MEDIA_TYPE,
            f"The header declares a media type of {media_type_size} bytes; "
            f"at most {limits.MAX_MEDIA_TYPE_SIZE} are allowed.",
            "Use a short file extension such as mp4, mkv or webm as the media type.",
        )
    if payload_size > dialect.max_payload_size:
        raise RemoteProtocolError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The header declares a payload of {payload_size} bytes; "
            f"the limit is {dialect.max_payload_size}.",
            "Split or compress the file before sending it.",
        )
    if media_type_size == 0 and payload_size > 0:
        raise RemoteProtocolError(
            ErrorCode.BAD_MEDIA_TYPE,
            "A payload was declared without a media type.",
            "Name the payload's type (its file extension, e.g. mp4) in the header.",
        )
    return Header(json_size, media_type_size, payload_size, dialect)


def encode_header(header: Header) -> bytes:
    """Serialise a header; raise LocalProtocolError for values the dialect cannot carry."""
    dialect = header.dialect
    if not limits.MIN_JSON_SIZE <= header.json_size <= dialect.max_json_size:
        raise LocalProtocolError(f"JSON size {header.json_size} out of range")
    if not 0 <= header.media_type_size <= limits.MAX_MEDIA_TYPE_SIZE:
        raise LocalProtocolError(f"media type size {header.media_type_size} out of range")
    if not 0 <= header.payload_size <= dialect.max_payload_size:
        raise LocalProtocolError(f"payload size {header.payload_size} out of range")
    json_field, mt_field, payload_field = _fields(dialect)
    return (
        header.json_size.to_bytes(json_field, "big")
        + header.media_type_size.to_bytes(mt_field, "big")
        + header.payload_size.to_bytes(payload_field, "big")
    )
