"""Caps settled before a payload byte is stored (SPEC §3.0): a trickling upload holds only
what it sends, the queue is bounded, one network and one address get their share."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from tests.server_process import ServerProcess, wait_for
from tests.spec_client import SpecClient, header64
from tests.spec_raw_client import RawClient, fake_mp4, prefix

MiB = 1024 * 1024


def open_upload(server: ServerProcess, declared: int, source: str, sent: bytes = b"") -> SpecClient:
    """An MMP upload that declares `declared` bytes and has sent only `sent` so far."""
    client = SpecClient(server.host, server.port, source)
    body = b'{"op":"convert","format":"mkv"}'
    client.send_bytes(header64(len(body), 3, declared) + body + b"mp4" + sent)
    return client


def partial_files(server: ServerProcess) -> list[Path]:
    return [p for p in server.files() if p.name.endswith(".part")]


def test_a_trickle_that_declares_the_whole_quota_does_not_block_others(
    start_server, clip_mp4: Path
) -> None:
    quota = 1024 * MiB
    server = start_server("--quota", str(quota), "--max-bytes-per-address", "0")
    # Declares every byte of the quota, then trickles.
    trickle = open_upload(server, quota, "127.0.1.1", b"x" * 4096)
    assert wait_for(lambda: len(partial_files(server)) == 1)
    try:
        # Another client's MMP upload and raw upload both go through meanwhile.
        answer = SpecClient(server.host, server.port, source="127.0.2.1").request(
            {"op": "convert", "format": "mkv"},
            media_type="mp4",
            payload=clip_mp4.read_bytes(),
        )
        assert answer.doc.get("status") == "accepted", answer.doc
        raw = RawClient(server.host, server.raw_port, source="127.0.3.1")
        raw.send(prefix(2 * MiB) + fake_mp4(2 * MiB))
        assert raw.status().startswith(b"200")
        raw.close()
        trickle.send_bytes(b"y" * 4096)  # still alive, still accepted as it comes
        assert not trickle.is_closed()
    finally:
        trickle.close()
    assert wait_for(lambda: partial_files(server) == [])


def test_an_upload_stops_when_the_quota_cannot_hold_what_it_sends(start_server) -> None:
    quota = 300 * MiB
    server = start_server("--quota", str(quota), "--max-bytes-per-address", "0")
    # A declares 290 MiB and sends 1 MiB: it holds what it sent plus a 256 MiB headroom.
    first = open_upload(server, 290 * MiB, "127.0.1.1", b"a" * MiB)
    assert wait_for(lambda: len(partial_files(server)) == 1)
    # B's 40 MiB fit beside that and are stored (a raw upload: kept, not processed).
    raw = RawClient(server.host, server.raw_port, source="127.0.2.1")
    raw.send(prefix(40 * MiB) + fake_mp4(40 * MiB))
    assert raw.status().startswith(b"200")
    raw.close()
    # A goes on: past what the quota still holds it is refused mid-upload, keeping nothing.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for _ in range(20):
            first.send_bytes(b"a" * MiB)
    answer = first.receive()
    assert answer.doc["error"]["code"] == "quota_exceeded", answer.doc
    assert wait_for(lambda: partial_files(server) == [])
    # B's file is all that is left, and its space is all that is held: a new 250 MiB
    # declaration (300 - 40 = 260 free) is let in.
    assert [p.suffix for p in server.files()] == [".mp4"]
    again = open_upload(server, 250 * MiB, "127.0.4.1")
    time.sleep(0.3)
    assert not again.is_closed()
    again.close()


def test_one_address_may_hold_a_quarter_of_the_quota_by_default(start_server) -> None:
    server = start_server("--quota", str(400 * MiB))
    client = open_upload(server, 101 * MiB, "127.0.1.1")
    error = client.receive().doc["error"]
    assert error["code"] == "quota_exceeded"
    assert "127.0.1.1" in error["description"] and "104.9 MB" in error["description"]
    assert server.files() == []
    fits = open_upload(server, 100 * MiB - 1, "127.0.1.1")
    time.sleep(0.3)
    assert not fits.is_closed()
    fits.close()


def test_the_queue_is_bounded(start_server) -> None:
    server = start_server("--max-queued-jobs", "2", "--max-jobs", "1")
    held = [open_upload(server, 10 * MiB, f"127.0.{i}.1") for i in (1, 2)]
    try:
        assert wait_for(lambda: len(partial_files(server)) == 2)
        third = open_upload(server, 10 * MiB, "127.0.3.1")
        error = third.receive().doc["error"]
        assert error["code"] == "queue_full", error
        assert error["solution"]
    finally:
        for client in held:
            client.close()
    # Once they are gone, there is room again.
    assert wait_for(lambda: partial_files(server) == [])
    fourth = open_upload(server, 10 * MiB, "127.0.4.1")
    assert wait_for(lambda: len(partial_files(server)) == 1)
    fourth.close()


def test_one_network_gets_a_bounded_share_of_the_jobs(start_server) -> None:
    server = start_server("--max-jobs-per-network", "2")
    held = [open_upload(server, 10 * MiB, f"127.0.0.{i}") for i in (2, 3)]
    try:
        assert wait_for(lambda: len(partial_files(server)) == 2)
        same_network = open_upload(server, 10 * MiB, "127.0.0.4")
        error = same_network.receive().doc["error"]
        assert error["code"] == "job_limit" and "127.0.0.0/24" in error["description"]
        other_network = open_upload(server, 10 * MiB, "127.0.1.4")
        assert wait_for(lambda: len(partial_files(server)) == 3)
        other_network.close()
    finally:
        for client in held:
            client.close()
