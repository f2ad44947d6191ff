"""Received bytes, held until a decoder takes them: the one buffer of every sans-IO decoder.

The MMP decoder (decoder.py), the raw upload decoder (raw.py) and the sealed-record
opener (secure/records.py) are all fed bytes as they arrive and take them out in
order. `ReceiveBuffer` keeps the fed chunks as they are and an offset into the first,
so taking never copies the rest of a chunk; a take that spans chunks joins only what
it needs. `PayloadCursor` is the bookkeeping of a payload that passes through (chunks
handed out as they arrive, never held whole) or bypasses the decoder entirely (spliced
from the socket into a file, opened in a worker thread): how much is left, whether
bytes of it wait in the buffer, and `skip` for bytes the caller moved itself.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Protocol, TypeVar

from app.protocol.errors import LocalProtocolError
from app.protocol.events import NeedData

Event_co = TypeVar("Event_co", covariant=True)


class ReceiveBuffer:
    """Bytes fed in arrival order; `feed(b"")` marks the end of the stream."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # bytes of the first chunk already taken
        self._available = 0
        self.eof = False

    def __len__(self) -> int:
        return self._available

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self.eof:
            raise LocalProtocolError("feed() after end of stream")
        if not data:
            self.eof = True
            return
        self._chunks.append(bytes(data))
        self._available += len(data)

    def peek(self, n: int) -> bytes | None:
        """The first `n` bytes, left in place; None while fewer have arrived."""
        if self._available < n:
            return None
        if n <= 0:
            return b""
        first, offset = self._chunks[0], self._offset
        if offset + n <= len(first):
            return first[offset : offset + n]
        joined = b"".join(itertools.islice(self._chunks, _chunks_covering(self._chunks, offset, n)))
        return joined[offset : offset + n]

    def take(self, n: int) -> bytes:
        """Exactly `n` bytes (they must be there); the first chunk itself when it is all."""
        view = self.take_view(n)
        return view if isinstance(view, bytes) else bytes(view)

    def take_view(self, n: int) -> bytes | memoryview:
        """Exactly `n` bytes: a view when they lie inside one chunk, else a joined copy."""
        if not 0 <= n <= self._available:
            raise LocalProtocolError(f"take({n}) with {self._available} bytes buffered")
        if n == 0:
            return b""
        first, offset = self._chunks[0], self._offset
        end = offset + n
        if end <= len(first):
            self._consumed_first(end)
            self._available -= n
            if offset == 0 and end == len(first):
                return first
            return memoryview(first)[offset:end]
        parts = [memoryview(first)[offset:]]
        self._chunks.popleft()
        need = n - len(parts[0])
        while need:
            chunk = self._chunks[0]
            if len(chunk) > need:
                parts.append(memoryview(chunk)[:need])
                self._offset = need
                break
            parts.append(memoryview(chunk))
            self._chunks.popleft()
            need -= len(chunk)
        else:
            self._offset = 0
        self._available -= n
        return b"".join(parts)

    def take_some(self, limit: int) -> bytes:
        """Up to `limit` bytes from the first chunk, never joining (payload pass-through)."""
        if not self._available or limit <= 0:
            return b""
        first, offset = self._chunks[0], self._offset
        return self.take(min(limit, len(first) - offset))

    def take_all(self) -> bytes:
        return self.take(self._available)

    def clear(self) -> int:
        """Drop everything buffered; returns how many bytes went."""
        dropped = self._available
        self._chunks.clear()
        self._offset = 0
        self._available = 0
        return dropped

    def _consumed_first(self, end: int) -> None:
        if end == len(self._chunks[0]):
            self._chunks.popleft()
            self._offset = 0
        else:
            self._offset = end


def _chunks_covering(chunks: deque[bytes], offset: int, n: int) -> int:
    """How many leading chunks hold bytes offset..offset+n of their concatenation."""
    total = 0
    for count, chunk in enumerate(chunks, 1):
        total += len(chunk)
        if total >= offset + n:
            return count
    return len(chunks)


class PayloadCursor:
    """The current payload's bookkeeping, over the buffer its decoder reads from.

    Inactive between payloads. While active, `take_chunk` hands out buffered payload
    bytes without joining chunks, and `skip` accounts for bytes the caller moved from
    the transport itself — only once nothing of the payload waits in the buffer.
    """

    def __init__(self, buffer: ReceiveBuffer) -> None:
        self._buffer = buffer
        self._left = 0
        self._active = False
        self.skipped = 0  # bytes accounted for by `skip`, over the decoder's life

    @property
    def left(self) -> int:
        """Payload bytes still to come (0 outside a payload)."""
        return self._left if self._active else 0

    @property
    def buffered(self) -> bool:
        """True when bytes of the current payload wait in the buffer."""
        return self._active and self._left > 0 and len(self._buffer) > 0

    def start(self, size: int) -> None:
        self._left = size
        self._active = True

    def end(self) -> None:
        self._active = False
        self._left = 0

    def take_chunk(self) -> bytes:
        """Buffered payload bytes, as they were fed (b"" when none wait)."""
        data = self._buffer.take_some(self.left)
        self._left -= len(data)
        return data

    def skip(self, n: int) -> None:
        """Account for `n` payload bytes the caller read from the transport itself."""
        if not self._active or len(self._buffer) or not 0 <= n <= self._left:
            raise LocalProtocolError("skip() outside a payload, past its end, or while buffered")
        self._left -= n
        self.skipped += n


class PayloadDecoder(Protocol[Event_co]):
    """A sans-IO decoder whose payload may bypass it (the MMP and raw upload decoders)."""

    @property
    def payload(self) -> PayloadCursor: ...

    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes) -> None: ...

    def next_event(self) -> Event_co | NeedData: ...
