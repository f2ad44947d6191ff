"""A small MMP peer on loopback that answers each request with whatever a test scripts:
a server of another version, or a hostile one. It frames with our own protocol code
(the decoder for requests, the encoder for answers), so what it sends is well-formed
MMP; only the content is odd. A test peer, not a mock: the client under test runs as a
real `vcs` process over a real TCP connection."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.client.address import ServerAddress
from app.protocol import MessageDecoder, MessageEnd, MessageHead, NeedData, encode_message_head


@dataclass(frozen=True)
class Reply:
    doc: dict[str, Any]
    media_type: str = ""
    payload: bytes = b""
    # Declared in the header; defaults to the payload's length.
    payload_size: int | None = None

    def encode(self) -> bytes:
        size = len(self.payload) if self.payload_size is None else self.payload_size
        return encode_message_head(self.doc, self.media_type, size) + self.payload


Script = Callable[[dict[str, Any]], Reply]


@dataclass
class FakeServer:
    script: Script
    requests: list[dict[str, Any]] = field(default_factory=list)

    def serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed: the test is over
            with conn:
                conn.settimeout(10)
                with contextlib.suppress(OSError):
                    doc = self._read_request(conn)
                    if doc is not None:
                        self.requests.append(doc)
                        conn.sendall(self.script(doc).encode())

    @staticmethod
    def _read_request(conn: socket.socket) -> dict[str, Any] | None:
        decoder = MessageDecoder()
        head: dict[str, Any] | None = None
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                data = conn.recv(65536)
                if not data:
                    return None
                decoder.feed(data)
            elif isinstance(event, MessageHead):
                head = event.json
            elif isinstance(event, MessageEnd):
                return head


@contextlib.contextmanager
def fake_server(script: Script) -> Iterator[tuple[ServerAddress, FakeServer]]:
    """A FakeServer listening on a free loopback port while the block runs."""
    server = FakeServer(script)
    sock = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve, args=(sock,), daemon=True)
    thread.start()
    try:
        yield ServerAddress("127.0.0.1", sock.getsockname()[1]), server
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        sock.close()
        thread.join(timeout=10)
