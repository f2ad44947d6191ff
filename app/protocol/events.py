"""Events the MMP decoder yields: what a message is made of, in wire order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from app.protocol.header import Dialect


@dataclass(frozen=True, slots=True)
class MessageHead:
    """Header, JSON and media type of one message; its payload follows as chunks."""

    dialect: Dialect
    json: dict[str, Any]
    media_type: str
    payload_size: int


@dataclass(frozen=True, slots=True)
class PayloadChunk:
    """Payload bytes passed through as they arrive; never the whole payload at once."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MessageEnd:
    """The last payload byte (or the JSON, if there is no payload) has arrived."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the stream between two messages."""


class NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()
"""Returned by `next_event` when more bytes must be fed."""

Event = MessageHead | PayloadChunk | MessageEnd | ConnectionClosed
