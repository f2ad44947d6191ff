"""A loopback TCP proxy between a client and vcs-serve: records the raw bytes, and alters them.

Each direction of an encrypted connection is cut into its units — the plaintext MMP
messages of the key exchange (two from the client, one from the server), then sealed
records — and an action decides what goes on for each unit: the unit itself, an altered
copy, nothing (dropped), several (replayed), None to cut the connection there, or
raise Stall to stop reading that direction (backpressure stalls the sender).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import trio

Action = Callable[[int, bytes], list[bytes] | None]
HEADER64 = 64


def keep(index: int, unit: bytes) -> list[bytes]:
    return [unit]


class UnitSplitter:
    """Splits one direction into `messages` plaintext MMP messages, then sealed records."""

    def __init__(self, messages: int) -> None:
        self.messages_left = messages
        self.buffer = bytearray()

    def _next_size(self) -> int | None:
        buf = self.buffer
        if self.messages_left:
            if len(buf) < HEADER64:
                return None
            return HEADER64 + int.from_bytes(buf[:16], "big") + buf[16]
        if len(buf) < 3:
            return None
        return 3 + int.from_bytes(buf[:2], "big")

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        units = []
        while (size := self._next_size()) is not None and len(self.buffer) >= size:
            units.append(bytes(self.buffer[:size]))
            del self.buffer[:size]
            self.messages_left = max(0, self.messages_left - 1)
        return units


@dataclass
class TamperProxy:
    target: tuple[str, int]
    client_to_server: Action = keep
    server_to_client: Action = keep
    # Every byte read from either side, in arrival order: what a capture would show.
    captured: bytearray = field(default_factory=bytearray)
    port: int = 0
    # Connections relayed, and of them those that opened with a key exchange.
    connections: int = 0
    key_exchanges: int = 0
    # False: bytes pass as they come (plaintext MMP has no records to cut it into).
    split_units: bool = True

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, downstream: trio.SocketStream) -> None:
        self.connections += 1
        upstream = await trio.open_tcp_stream(*self.target)
        async with downstream, upstream, trio.open_nursery() as nursery:
            cut = nursery.cancel_scope
            nursery.start_soon(
                self._pump, downstream, upstream, UnitSplitter(2), self.client_to_server, cut, True
            )
            nursery.start_soon(
                self._pump, upstream, downstream, UnitSplitter(1), self.server_to_client, cut, False
            )

    async def _pump(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        splitter: UnitSplitter,
        action: Action,
        cut: trio.CancelScope,
        from_client: bool,
    ) -> None:
        index = 0
        try:
            while data := await source.receive_some(65536):
                self.captured += data
                if not self.split_units:
                    if from_client and index == 0 and b'"op":"key_exchange"' in data:
                        self.key_exchanges += 1
                    index += 1
                    await sink.send_all(data)
                    continue
                for unit in splitter.feed(data):
                    if index == 0 and from_client and b'"op":"key_exchange"' in unit:
                        self.key_exchanges += 1
                    try:
                        out = action(index, unit)
                    except Stall:
                        await trio.sleep_forever()
                    index += 1
                    if out is None:
                        cut.cancel()  # both directions end here: a truncation
                        return
                    for piece in out:
                        await sink.send_all(piece)
            await sink.send_all(bytes(splitter.buffer))
            await sink.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            cut.cancel()


def flip_bit(unit_index: int, offset: int, mask: int = 0x01) -> Action:
    """Flip bits `mask` of byte `offset` (negative: from the end) of one unit."""

    def action(index: int, unit: bytes) -> list[bytes]:
        if index != unit_index:
            return [unit]
        altered = bytearray(unit)
        altered[offset] ^= mask
        return [bytes(altered)]

    return action


def drop(unit_index: int) -> Action:
    return lambda index, unit: [] if index == unit_index else [unit]


def replay(unit_index: int) -> Action:
    return lambda index, unit: [unit, unit] if index == unit_index else [unit]


def swap_with_next(unit_index: int) -> Action:
    held: list[bytes] = []

    def action(index: int, unit: bytes) -> list[bytes]:
        if index == unit_index:
            held.append(unit)
            return []
        if index == unit_index + 1:
            return [unit, *held]
        return [unit]

    return action


def cut_before(unit_index: int) -> Action:
    return lambda index, unit: None if index == unit_index else [unit]


@contextlib.contextmanager
def running_in_thread(proxy: TamperProxy) -> Iterator[int]:
    """Run the proxy in its own trio loop on a thread (for tests outside trio); its port."""
    ready = threading.Event()
    handle: list[tuple[trio.lowlevel.TrioToken, trio.CancelScope]] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            handle.append((trio.lowlevel.current_trio_token(), nursery.cancel_scope))
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")
        yield proxy.port
    finally:
        if handle:
            token, scope = handle[0]
            token.run_sync_soon(scope.cancel)
        thread.join(10)


class Stall(Exception):
    """Raised by an action: forward nothing more, and stop reading (the sender stalls)."""


def stall_after(unit_index: int) -> Action:
    def action(index: int, unit: bytes) -> list[bytes]:
        if index > unit_index:
            raise Stall
        return [unit]

    return action
