"""The `vcs` command line against a real server: round trips and exit codes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.media_files import decode_all_frames, probe
from tests.server_process import ServerProcess


def vcs(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_compress_returns_a_smaller_playable_mp4(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path
) -> None:
    out = tmp_path / "small.mp4"
    result = vcs("compress", str(clip_mp4), "--server", str(server.address), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size < clip_mp4.stat().st_size
    assert probe(out)["video_codec"] == "h264"
    assert decode_all_frames(out) == 100
    assert "smaller" in result.stderr
    assert "vmaf" in result.stderr and "quality measured on the" in result.stderr
    assert not list(tmp_path.glob(".*.part"))


def test_no_wait_then_status_download_and_cancel(
    server: ServerProcess, clip_mp4: Path, tmp_path: Path
) -> None:
    addr = str(server.address)
    submitted = vcs("compress", str(clip_mp4), "--server", addr, "--no-wait", "-q")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert len(job_id) == 32
    waited = vcs("status", job_id, "--server", addr, "--wait", "--poll-interval", "5", "-q")
    assert waited.returncode == 0, waited.stderr
    assert "done" in waited.stderr
    got = vcs("download", job_id, "--server", addr, "-o", str(tmp_path), "-q")
    assert got.returncode == 0, got.stderr
    saved = list(tmp_path.glob("*.mp4"))
    assert len(saved) == 1 and saved[0].name == "clip.compress.mp4"
    again = vcs("cancel", job_id, "--server", addr)
    assert again.returncode == 3  # already downloaded: the server refuses
    assert "job_finished" in again.stderr


def test_refusal_exits_3_with_the_solution(server: ServerProcess) -> None:
    result = vcs("status", "f" * 32, "--server", str(server.address))
    assert result.returncode == 3
    assert "job_not_found" in result.stderr
    assert "Check the id" in result.stderr  # the solution text
    assert "Traceback" not in result.stderr


def test_unreachable_server_exits_4(tmp_path: Path, clip_mp4: Path) -> None:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = vcs("compress", str(clip_mp4), "--server", f"127.0.0.1:{port}")
    assert result.returncode == 4
    assert "Cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert vcs("compress", str(tmp_path / "missing.mp4")).returncode == 2
    assert vcs("compress", "x.mp4", "--server", "host:notaport").returncode == 2
    assert vcs("compress", "x.mp4", "--codec", "xvid").returncode == 2
    assert vcs("compress", "x.mp4", "--target-vmaf", "120").returncode == 2
