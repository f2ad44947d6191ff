"""Limits that protect the server (docs/operations.md): connection caps, idle and slow-transfer
timeouts, and a slowloris that must not stop a normal client."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import trio

from app.client.api import VcsClient
from app.client.workflow import wait_for_job
from tests.support.server_process import ServerProcess
from tests.support.spec_client import SpecClient, header64
from tests.support.spec_raw_client import RawClient, fake_mp4, prefix


def connect(server: ServerProcess, source: str, raw: bool = False) -> socket.socket:
    port = server.raw_port if raw else server.port
    return socket.create_connection((server.host, port), timeout=10, source_address=(source, 0))


def test_per_ip_cap_counts_both_ports_and_spares_other_addresses(start_server) -> None:
    server = start_server("--max-connections-per-ip", "3")
    held = [connect(server, "127.0.0.5"), connect(server, "127.0.0.5", raw=True)]
    held.append(connect(server, "127.0.0.5"))
    time.sleep(0.2)  # let the server count them
    raw = RawClient(server.host, server.raw_port, source="127.0.0.5")
    assert raw.status() == b"429 ip limit   \n"
    mmp = SpecClient(server.host, server.port, source="127.0.0.5")
    error = mmp.receive().doc["error"]
    assert error["code"] == "too_many_connections" and "127.0.0.5" in error["description"]
    other = SpecClient(server.host, server.port, source="127.0.0.6")
    assert other.request({"op": "status", "job_id": "0" * 32}).doc["error"]["code"] == (
        "job_not_found"
    )
    held.pop().close()
    time.sleep(0.2)
    again = SpecClient(server.host, server.port, source="127.0.0.5")
    assert again.request({"op": "status", "job_id": "0" * 32}).doc["error"]["code"] == (
        "job_not_found"
    )
    for s in held:
        s.close()


def test_the_whole_table_full_answers_busy(start_server) -> None:
    server = start_server("--max-connections", "4", "--max-connections-per-ip", "0")
    held = [connect(server, "127.0.0.7") for _ in range(4)]
    time.sleep(0.2)
    assert SpecClient(server.host, server.port).receive().doc["error"]["code"] == "busy"
    assert RawClient(server.host, server.raw_port).status() == b"503 busy       \n"
    for s in held:
        s.close()


def test_idle_connections_are_closed_mid_message_with_an_answer(start_server) -> None:
    server = start_server("--idle-timeout", "1")
    silent = connect(server, "127.0.0.1")
    client = SpecClient(server.host, server.port)
    client.send_bytes(header64(17, 3, 5000)[:30])  # half a header, then silence
    assert client.receive().doc["error"]["code"] == "timeout"
    silent.settimeout(10)
    assert silent.recv(1) == b""  # idle between messages: closed without a word


def trickle(sock: socket.socket, data: bytes, gap_s: float, limit_s: float) -> bytes:
    """Send `data` one byte per `gap_s` until the server answers; return its answer."""
    sock.settimeout(gap_s)
    deadline = time.monotonic() + limit_s
    for byte in data:
        if time.monotonic() > deadline:
            break
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            continue
        return answer
    sock.settimeout(5)
    return sock.recv(4096)


def test_a_peer_trickling_bytes_is_dropped_though_never_idle(start_server) -> None:
    # Idle timeout far away; 4 bytes/s is under the 100 bytes/s floor judged over 2 s.
    server = start_server(
        "--idle-timeout", "60", "--min-transfer-rate", "100", "--transfer-window", "2"
    )
    body = b'{"op":"compress"}'
    request = header64(len(body), 3, 10_000) + body + b"mp4" + bytes(10_000)
    answer = trickle(connect(server, "127.0.0.1"), request, 0.25, 20)
    assert b'"too_slow"' in answer and b"bytes/s" in answer
    raw_answer = trickle(connect(server, "127.0.0.1", raw=True), prefix(9000), 0.25, 20)
    assert raw_answer == b"408 too slow   \n"
    assert server.files() == []


def test_slowloris_does_not_stop_a_normal_client(
    start_server, clip_mp4: Path, tmp_path: Path
) -> None:
    """400 idle connections from 100 addresses (each at its per-IP cap) plus 40 that trickle
    half-sent uploads: a normal client still uploads, gets its job done and downloads."""
    server = start_server(
        "--max-connections-per-ip", "4", "--min-transfer-rate", "1000", "--transfer-window", "3"
    )
    attackers: list[socket.socket] = []
    try:
        for i in range(100):
            source = f"127.0.3.{i + 1}"
            attackers += [connect(server, source, raw=j == 3) for j in range(4)]
        for i in range(40):  # half an upload each, then a byte now and then
            raw = i % 2 == 0
            s = connect(server, f"127.0.4.{i + 1}", raw=raw)
            s.sendall(prefix(10**6) + fake_mp4(100) if raw else header64(17, 3, 10**6)[:40])
            attackers.append(s)
        refused = RawClient(server.host, server.raw_port, source="127.0.3.1")
        assert refused.status() == b"429 ip limit   \n"

        async def normal_client() -> dict:
            client = VcsClient(server.address)
            with trio.fail_after(120):
                job_id = str((await client.upload("compress", clip_mp4))["job_id"])
                status = await wait_for_job(client, job_id, poll_interval_s=5)
                if status["state"] == "done":
                    await client.download(job_id, tmp_path)
            return status

        status = trio.run(normal_client)
        assert status["state"] == "done", status
        assert (tmp_path / "clip.compress.mp4").stat().st_size > 0
    finally:
        for s in attackers:
            s.close()
