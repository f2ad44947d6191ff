"""The raw upload port (SPEC §2.2), spoken from the spec with plain sockets."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.server_process import ServerProcess, wait_for


def raw_send(server: ServerProcess, prefix: bytes, data: bytes) -> bytes:
    with socket.create_connection((server.host, server.raw_port), timeout=20) as sock:
        stream = prefix + data
        for i in range(0, len(stream), 1400):
            sock.sendall(stream[i : i + 1400])
        answer = b""
        while len(answer) < 16 and (chunk := sock.recv(16 - len(answer))):
            answer += chunk
        return answer


def stored(server: ServerProcess) -> list[Path]:
    return [p for p in (server.storage_dir / "raw").iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize(
    "encode",
    [
        lambda n: n.to_bytes(32, "big"),
        lambda n: str(n).encode().ljust(32, b" "),
        lambda n: n.to_bytes(4, "big") + bytes(28),
    ],
    ids=["32-byte big-endian", "ASCII decimal", "4-byte + 28 zeros"],
)
def test_three_size_encodings_store_an_mp4(server: ServerProcess, clip_mp4: Path, encode) -> None:
    data = clip_mp4.read_bytes()
    answer = raw_send(server, encode(len(data)), data)
    assert len(answer) == 16 and answer.startswith(b"200"), answer
    assert wait_for(lambda: len(stored(server)) == 1)
    assert stored(server)[0].read_bytes() == data


def test_non_mp4_is_refused_and_nothing_is_kept(server: ServerProcess) -> None:
    data = b"\x00\x00\x00\x10notanmp4" + bytes(5000)
    answer = raw_send(server, len(data).to_bytes(32, "big"), data)
    assert len(answer) == 16 and not answer.startswith(b"200"), answer
    assert stored(server) == []
    assert not list((server.storage_dir / "raw").glob(".*"))
