"""A sans-IO decoder driven by a trio stream: the one read loop of both ports.

The MMP message stream (stream.py) and the raw upload port (server/raw_listener.py)
read the same way: ask the decoder for an event, and only when it needs data, read
from the connection under the idle timeout and feed what came.
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar

import trio

from app.protocol import NeedData
from app.protocol.receive_buffer import PayloadDecoder

# Bytes asked of the connection per read; the decoder passes payload chunks through.
RECEIVE_SIZE: Final = 256 * 1024

EventT = TypeVar("EventT")


class EventReader(Generic[EventT]):
    """Events of `decoder`, read from `stream`; past `idle_timeout_s` of silence in any
    one read, trio.TooSlowError is raised and the caller decides what to answer."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        decoder: PayloadDecoder[EventT],
        idle_timeout_s: float = float("inf"),
    ) -> None:
        self.stream = stream
        self.decoder = decoder
        self.idle_timeout_s = idle_timeout_s

    async def next_event(self) -> EventT:
        while True:
            event = self.decoder.next_event()
            if not isinstance(event, NeedData):
                return event
            with trio.fail_after(self.idle_timeout_s):
                data = await self.stream.receive_some(RECEIVE_SIZE)
            self.decoder.feed(bytes(data))
