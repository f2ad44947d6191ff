"""Building MMP messages (docs/protocol.md): the bytes before a payload, and error answers."""

from __future__ import annotations

from typing import Any

from app.protocol.errors import ErrorInfo, LocalProtocolError
from app.protocol.header import Dialect, Header, encode_header
from app.protocol.json_doc import encode_json_object
from app.protocol.media_type import is_valid_media_type


def encode_message_head(
    doc: dict[str, Any],
    media_type: str = "",
    payload_size: int = 0,
    dialect: Dialect = Dialect.HEADER64,
) -> bytes:
    """Header + JSON + media type; the caller streams `payload_size` bytes after it."""
    if media_type and not is_valid_media_type(media_type):
        raise LocalProtocolError(f"invalid media type {media_type!r}")
    if payload_size and not media_type:
        raise LocalProtocolError("a payload needs a media type")
    json_bytes = encode_json_object(doc)
    mt_bytes = media_type.lower().encode("ascii")
    header = Header(len(json_bytes), len(mt_bytes), payload_size, dialect)
    return encode_header(header) + json_bytes + mt_bytes


def encode_error(info: ErrorInfo, dialect: Dialect = Dialect.HEADER64) -> bytes:
    """A whole error message: the error JSON, no media type, no payload."""
    return encode_message_head(info.to_json(), "", 0, dialect)
