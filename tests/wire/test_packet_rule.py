"""Every segment carries at most 1,400 payload bytes (docs/protocol.md), read from live sockets."""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
import trio

from app.protocol import limits
from app.wire.sockets import connect, open_listener
from tests.support.server_process import ServerProcess
from tests.support.spec_client import header64

# struct tcp_info: tcpi_snd_mss is the u32 at byte offset 16 (linux/tcp.h).
TCPI_SND_MSS_OFFSET = 16


def snd_mss(sock: trio.socket.SocketType) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, TCPI_SND_MSS_OFFSET)[0])


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="needs Linux TCP_INFO")
@pytest.mark.trio
async def test_client_and_accepted_sockets_send_1400_byte_segments() -> None:
    listener = await open_listener("127.0.0.1", 0)
    port = listener.socket.getsockname()[1]
    assert (
        listener.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        == limits.TCP_MAXSEG_FOR_PACKET
    )
    client = await connect("127.0.0.1", port)
    server = await listener.accept()
    # Loopback's own MSS would be ~65,483; the option brings both directions to 1,400.
    assert snd_mss(client.socket) == limits.PACKET_SIZE
    assert snd_mss(server.socket) == limits.PACKET_SIZE
    for stream in (client, server, listener):
        await stream.aclose()


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (Debian: iproute2)")
def test_live_vcs_serve_connection_uses_1400_byte_segments(
    server: ServerProcess, clip_mp4: Path
) -> None:
    """Mid-upload, ask the kernel (ss -ti) for the MSS of the real server's connection."""
    sock = socket.create_connection((server.host, server.port))
    body = b'{"op":"compress"}'
    sock.sendall(header64(len(body), 3, 10**8) + body + b"mp4" + b"\0" * 1400)
    time.sleep(0.3)
    out = subprocess.run(
        ["ss", "-tni", "state", "established", f"( sport = :{server.port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sock.close()
    mss = [int(m) for m in re.findall(r"\bmss:(\d+)", out)]
    assert mss, out
    assert all(m == limits.PACKET_SIZE for m in mss), out
