"""An MMP message stream over a trio byte stream: the protocol decoder driven by real I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, BinaryIO

import trio

from app.protocol import (
    ConnectionClosed,
    Dialect,
    ErrorInfo,
    Event,
    MessageDecoder,
    MessageEnd,
    MessageHead,
    PayloadChunk,
    encode_error,
    encode_message_head,
)
from app.wire.event_reader import EventReader
from app.wire.file_sender import send_file

ProgressCallback = Callable[[int], None]


class MessageStream(EventReader[Event]):
    """Receive MMP events and send MMP messages on one connection.

    `idle_timeout_s` bounds every wait for bytes from the peer; past it
    trio.TooSlowError is raised and the caller decides what to answer.
    """

    decoder: MessageDecoder

    def __init__(self, stream: trio.abc.Stream, idle_timeout_s: float = float("inf")) -> None:
        super().__init__(stream, MessageDecoder(), idle_timeout_s)

    async def receive_head(self) -> MessageHead | None:
        """The next message's head, or None when the peer closed between messages."""
        event = await self.next_event()
        if isinstance(event, ConnectionClosed):
            return None
        assert isinstance(event, MessageHead), event
        return event

    async def receive_payload(self, sink: Callable[[bytes], None]) -> None:
        """Pass every payload chunk of the current message to `sink`, up to MessageEnd."""
        while True:
            event = await self.next_event()
            if isinstance(event, MessageEnd):
                return
            assert isinstance(event, PayloadChunk), event
            sink(event.data)

    async def receive_end(self) -> None:
        """Consume the MessageEnd of a message whose head declared no payload."""
        event = await self.next_event()
        assert isinstance(event, MessageEnd), event

    async def receive_message(self) -> dict[str, Any] | None:
        """A whole message that carries no payload (an answer or a request without one)."""
        head = await self.receive_head()
        if head is None:
            return None
        if head.payload_size:
            raise ValueError("receive_message() on a message with a payload")
        await self.receive_end()
        return head.json

    async def send_message(
        self,
        doc: dict[str, Any],
        dialect: Dialect = Dialect.HEADER64,
        media_type: str = "",
        payload_size: int = 0,
    ) -> None:
        """Send a head; when `payload_size` > 0 the caller streams the payload next."""
        await self.stream.send_all(encode_message_head(doc, media_type, payload_size, dialect))

    async def send_error(self, info: ErrorInfo, dialect: Dialect = Dialect.HEADER64) -> None:
        await self.stream.send_all(encode_error(info, dialect))

    async def send_file(
        self,
        file: BinaryIO,
        size: int,
        progress: ProgressCallback | None = None,
        digest: hashlib._Hash | None = None,
    ) -> None:
        """Stream exactly `size` bytes of `file` in batches of whole 1,400-byte units,
        feeding `digest` (when given) what was sent."""
        await send_file(self.stream, file, size, progress, digest)

    async def aclose(self) -> None:
        await self.stream.aclose()
