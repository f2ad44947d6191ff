"""A raw upload client written only from docs/protocol.md and docs/protocol.md, blocking sockets.

Shares no code with app/, like tests/support/spec_client.py: it speaks the way other people's
clients will, in all three size-prefix forms.
"""

from __future__ import annotations

import contextlib
import socket
import struct

PACKET = 1400
# The smallest honest MP4 start: an ftyp box of 24 bytes (isom, minor 0x200, isom mp42).
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp42"


def prefix(size: int, form: str = "be32") -> bytes:
    text = str(size).encode()
    forms = {
        "be32": lambda: size.to_bytes(32, "big"),
        "be4": lambda: size.to_bytes(4, "big") + bytes(28),
        "ascii": lambda: text.rjust(32),
        "zfill": lambda: text.zfill(32),
        "ljust": lambda: text.ljust(32),
        "nul": lambda: text.ljust(32, b"\0"),
    }
    return forms[form]()


def fake_mp4(size: int) -> bytes:
    """`size` bytes that pass the ftyp check (the server does not decode raw uploads)."""
    return (FTYP + bytes(range(256)) * (size // 256 + 1))[:size]


class RawClient:
    def __init__(self, host: str, port: int, source: str | None = None, timeout: float = 30):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )

    def send(self, data: bytes) -> None:
        for i in range(0, len(data), PACKET):
            self.sock.sendall(data[i : i + PACKET])

    def finish_sending(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def status(self) -> bytes:
        """The 16-byte answer, or b"" when the server closed without one."""
        got = b""
        while len(got) < 16:
            try:
                chunk = self.sock.recv(16 - len(got))
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        return got

    def reset(self) -> None:
        """Die abruptly: close with an RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


def upload(
    host: str, port: int, data: bytes, form: str = "be32", source: str | None = None
) -> bytes:
    """Prefix + file, then the status (the file is sent while nothing is read)."""
    client = RawClient(host, port, source)
    try:
        # Refused early, the server may close its side: the status is waiting all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send(prefix(len(data), form) + data)
        return client.status()
    finally:
        client.close()
