"""Sans-IO MMP (docs/protocol.md): bytes in, events out. Nothing here touches a socket or a file."""

from app.protocol.decoder import MessageDecoder
from app.protocol.encoder import encode_error, encode_message_head
from app.protocol.errors import (
    ErrorCode,
    ErrorInfo,
    LocalProtocolError,
    RemoteProtocolError,
    VcsError,
)
from app.protocol.events import (
    NEED_DATA,
    ConnectionClosed,
    Event,
    MessageEnd,
    MessageHead,
    NeedData,
    PayloadChunk,
)
from app.protocol.header import Dialect, Header

__all__ = [
    "NEED_DATA",
    "ConnectionClosed",
    "Dialect",
    "ErrorCode",
    "ErrorInfo",
    "Event",
    "Header",
    "LocalProtocolError",
    "MessageDecoder",
    "MessageEnd",
    "MessageHead",
    "NeedData",
    "PayloadChunk",
    "RemoteProtocolError",
    "VcsError",
    "encode_error",
    "encode_message_head",
]
