"""A client written only from docs/protocol.md with plain blocking sockets and 1,400-byte writes.

Deliberately shares no code with app/: it checks the server against the spec, the way
clients other people write will.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKET = 1400


@dataclass
class Answer:
    doc: dict[str, Any]
    media_type: str
    payload: bytes
    header_size: int


def header64(json_size: int, mt_size: int, payload_size: int) -> bytes:
    return json_size.to_bytes(16, "big") + bytes([mt_size]) + payload_size.to_bytes(47, "big")


def header8(json_size: int, mt_size: int, payload_size: int) -> bytes:
    return json_size.to_bytes(2, "big") + bytes([mt_size]) + payload_size.to_bytes(5, "big")


class SpecClient:
    def __init__(self, host: str, port: int, source: str | None = None, timeout: float = 60):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )

    def close(self) -> None:
        self.sock.close()

    def send_bytes(self, data: bytes) -> None:
        for i in range(0, len(data), PACKET):
            self.sock.sendall(data[i : i + PACKET])

    def send(
        self,
        doc: dict[str, Any] | bytes,
        media_type: str = "",
        payload: bytes = b"",
        dialect: int = 64,
        declared_size: int | None = None,
    ) -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        mt = media_type.encode()
        size = len(payload) if declared_size is None else declared_size
        head = (header64 if dialect == 64 else header8)(len(body), len(mt), size)
        self.send_bytes(head + body + mt + payload)

    def recv_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise ConnectionError("closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> Answer:
        first = self.recv_exact(2)
        if first == b"\0\0":
            rest = self.recv_exact(62)
            raw = first + rest
            json_size = int.from_bytes(raw[:16], "big")
            mt_size = raw[16]
            payload_size = int.from_bytes(raw[17:], "big")
            header_size = 64
        else:
            raw = first + self.recv_exact(6)
            json_size = int.from_bytes(raw[:2], "big")
            mt_size = raw[2]
            payload_size = int.from_bytes(raw[3:], "big")
            header_size = 8
        doc = json.loads(self.recv_exact(json_size))
        mt = self.recv_exact(mt_size).decode()
        payload = self.recv_exact(payload_size)
        return Answer(doc, mt, payload, header_size)

    def is_closed(self) -> bool:
        """True when the server closed its side (EOF, or a reset after closing)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            return True

    def request(self, doc: dict[str, Any], **kw: Any) -> Answer:
        self.send(doc, **kw)
        return self.receive()


def upload(host: str, port: int, op: str, path: Path, source: str | None = None, **params: Any):
    client = SpecClient(host, port, source)
    try:
        data = path.read_bytes()
        return client.request({"op": op, **params}, media_type=path.suffix[1:], payload=data)
    finally:
        client.close()
