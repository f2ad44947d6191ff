"""The raw upload port against a real vcs-serve (SPEC §2.2)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.server_process import ServerProcess, wait_for
from tests.spec_client import SpecClient, header64
from tests.spec_raw_client import RawClient, fake_mp4, prefix, upload


def raw_files(server: ServerProcess) -> list[Path]:
    return sorted((server.storage_dir / "raw").iterdir())


@pytest.mark.parametrize("form", ["be32", "be4", "ascii", "zfill", "ljust", "nul"])
def test_every_prefix_form_stores_the_file(
    server: ServerProcess, clip_mp4: Path, form: str
) -> None:
    data = clip_mp4.read_bytes()
    assert upload(server.host, server.raw_port, data, form) == b"200 stored     \n"
    [stored] = raw_files(server)
    assert re.fullmatch(r"[0-9a-f]{32}\.mp4", stored.name)
    assert stored.read_bytes() == data


def test_refusals_answer_a_status_and_store_nothing(start_server) -> None:
    server = start_server("--max-bytes-per-address", "0", "--quota", "50000")
    host, port = server.host, server.raw_port
    cases = [
        (prefix(2000) + b"\x00\x00\x00\x18moov" + bytes(1992), b"415 not mp4    \n"),
        (b"PUT /upload HTTP/1.1\r\nHost: x\r\n\r\n", b"400 bad size   \n"),
        (prefix(2**32 + 1), b"413 too large  \n"),
        (prefix(60_000), b"507 quota full \n"),  # over the quota: refused before the file
        (prefix(10), b"415 not mp4    \n"),  # too small for an ftyp box
    ]
    for raw, expected in cases:
        client = RawClient(host, port)
        client.send(raw)  # only the start: the answer must not wait for the rest
        assert client.status() == expected, raw[:40]
        client.close()
    # A client that stops early and says so (half-close) is told its upload is truncated.
    client = RawClient(host, port)
    client.send(prefix(5000) + fake_mp4(2000))
    client.finish_sending()
    assert client.status() == b"400 truncated  \n"
    client.close()
    assert server.files() == []


def test_raw_uploads_share_the_quota_and_expire_after_their_retention(start_server) -> None:
    size = 40_000
    server = start_server(
        "--max-bytes-per-address", "0", "--quota", str(size + size // 2), "--raw-retention", "1"
    )
    host, port = server.host, server.raw_port
    assert upload(host, port, fake_mp4(size)) == b"200 stored     \n"
    stored_at = time.monotonic()
    # The same quota for MMP: refused before the payload while the raw file is kept.
    client = SpecClient(server.host, server.port)
    body = b'{"op":"compress"}'
    client.send_bytes(header64(len(body), 3, size) + body + b"mp4")
    assert client.receive().doc["error"]["code"] == "quota_exceeded"
    client.close()
    if time.monotonic() - stored_at < 1:
        assert upload(host, port, fake_mp4(size)) == b"507 quota full \n"
    time.sleep(max(0.0, 1.2 - (time.monotonic() - stored_at)))
    # Past the retention the old file makes room (deleted when the space is needed).
    assert upload(host, port, fake_mp4(size)) == b"200 stored     \n"
    assert len(raw_files(server)) == 1


def test_kept_raw_uploads_survive_a_restart_and_still_count(start_server, tmp_path: Path) -> None:
    size = 40_000
    server = start_server(
        "--max-bytes-per-address",
        "0",
        "--quota",
        str(size + size // 2),
        storage_dir=tmp_path / "kept",
    )
    assert upload(server.host, server.raw_port, fake_mp4(size)) == b"200 stored     \n"
    server.restart()
    assert len(raw_files(server)) == 1
    assert upload(server.host, server.raw_port, fake_mp4(size)) == b"507 quota full \n"


def test_an_idle_or_half_sent_raw_upload_times_out(start_server) -> None:
    server = start_server("--idle-timeout", "1")
    client = RawClient(server.host, server.raw_port)
    client.send(prefix(5000) + fake_mp4(100))
    assert client.status() == b"408 timeout    \n"
    client.close()
    assert wait_for(lambda: server.files() == [])
