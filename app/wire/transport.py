"""The socket under a stack of stream wrappers, for transfers that go below the streams.

Bulk payloads bypass trio's stream layer (splice into a file, sendfile, the sealed
pumps): they need the socket itself, the rules the wrappers keep on the way (the
server's slow-transfer rule) and whether a sealing layer sits in between. Every
wrapper names the stream it wraps `transport_stream`, as trio's SSLStream does; this
module is the one place that walks down that chain.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import trio

from app.wire.secure_stream import SecureStream
from app.wire.wait_guard import IdleGuard, WaitGuard


@runtime_checkable
class StreamWrapper(Protocol):
    """A stream on top of another one (a sealing layer, a rule keeper)."""

    @property
    def transport_stream(self) -> trio.abc.Stream: ...


@runtime_checkable
class TimedStream(StreamWrapper, Protocol):
    """A wrapper that times its peer (the server's rate rules): transfers below it keep
    the same rules through its guards."""

    def receive_guard(self, idle_timeout_s: float) -> WaitGuard: ...

    def send_guard(self) -> WaitGuard: ...


def streams_below(stream: trio.abc.Stream) -> Iterator[trio.abc.Stream]:
    """`stream`, then each stream it wraps, down to the bottom one."""
    while True:
        yield stream
        if not isinstance(stream, StreamWrapper):
            return
        stream = stream.transport_stream


def bottom_stream(stream: trio.abc.Stream) -> trio.abc.Stream:
    *_, bottom = streams_below(stream)
    return bottom


@dataclass(frozen=True, slots=True)
class SocketBelow:
    """The TCP socket under a stream, and what lies between them."""

    socket: trio.socket.SocketType
    # The sealing layer on the way: payload bytes must be sealed and opened by it.
    sealed: SecureStream | None
    timed: TimedStream | None

    def receive_guard(self, idle_timeout_s: float) -> WaitGuard:
        if self.timed is not None:
            return self.timed.receive_guard(idle_timeout_s)
        return IdleGuard(idle_timeout_s)

    def send_guard(self, idle_timeout_s: float = math.inf) -> WaitGuard:
        return self.timed.send_guard() if self.timed is not None else IdleGuard(idle_timeout_s)


def socket_below(stream: trio.abc.Stream) -> SocketBelow | None:
    """The socket under `stream`, when every layer on the way is one we know (a plain
    TCP stream, at most one sealing layer, at most one timing layer); else None."""
    sealed: SecureStream | None = None
    timed: TimedStream | None = None
    for layer in streams_below(stream):
        if type(layer) is trio.SocketStream:
            return SocketBelow(layer.socket, sealed, timed)
        if isinstance(layer, SecureStream) and sealed is None:
            sealed = layer
        elif isinstance(layer, TimedStream) and timed is None:
            timed = layer
        else:
            return None
    return None
