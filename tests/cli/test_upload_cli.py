"""`vcs upload FILE` (SPEC §5) over the raw protocol against a real server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.client.errors import ConnectionFailed
from app.client.raw_upload import upload_raw
from tests.cli.test_cli import vcs
from tests.server_process import ServerProcess


def test_upload_stores_the_mp4_and_shows_progress(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path
) -> None:
    result = vcs("upload", str(clip_mp4), "--server", str(server.raw_address))
    assert result.returncode == 0, result.stderr
    assert "upload" in result.stderr and "stored" in result.stderr  # the bar, then the line
    [stored] = (server.storage_dir / "raw").iterdir()
    assert stored.read_bytes() == clip_mp4.read_bytes()


def test_a_non_mp4_is_refused_before_connecting(tmp_path: Path) -> None:
    # Port 1 on loopback has no listener: had the client connected, it would exit 4.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 1)) != 0
    for name, data in [
        ("clip.mkv", b"\x1a\x45\xdf\xa3" + bytes(100)),
        ("notes.mp4", b"just some text, not a video\n" * 10),
        ("tiny.mp4", b"\x00\x00\x00\x18ftyp"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        result = vcs("upload", str(path), "--server", "127.0.0.1:1")
        assert result.returncode == 2, result.stderr
        assert "not_mp4" in result.stderr and "vcs compress" in result.stderr


def test_a_full_server_refusal_exits_3(start_server, clip_mp4: Path) -> None:
    server = start_server("--max-bytes-per-address", "0", "--quota", "1000")
    result = vcs("upload", str(clip_mp4), "--server", str(server.raw_address), "-q")
    assert result.returncode == 3
    assert "quota_exceeded" in result.stderr and "507 quota full" in result.stderr
    assert server.files() == []


@pytest.mark.trio
async def test_library_reports_progress_for_every_byte(
    server: ServerProcess, clip_mp4: Path
) -> None:
    seen: list[int] = []
    status = await upload_raw(server.raw_address, clip_mp4, seen.append, source_host="127.0.0.9")
    assert status.ok and status.reason == "stored"
    assert sum(seen) == clip_mp4.stat().st_size
    # The MMP port answers with an MMP error, which is no raw status: said plainly.
    with pytest.raises(ConnectionFailed) as info:
        await upload_raw(server.address, clip_mp4)
    assert "raw upload port" in info.value.info.solution
