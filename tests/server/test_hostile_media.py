"""Hostile uploads against a real server: files that name other files, bombs, output caps.

What issue 14 found: an HLS playlist whose segment was a file on the server came back as
the result, MD5-identical; a live playlist wedged the only FFmpeg slot; a 2 MB PNG took
the daemon to 2 GB. Each test here sends that upload over MMP and checks what a user (or
the operator) would: the job's error code, what is left in storage, the daemon's memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.media_files import make_clip
from tests.server.test_faults import storage_leftovers
from tests.server.test_spec_client import poll_until_done
from tests.server_process import ServerProcess, wait_for
from tests.spec_client import SpecClient
from tests.support.hostile_media import (
    Secret,
    dash_manifest,
    ffconcat,
    gif_bomb,
    hls_live,
    hls_vod,
    png_bomb,
)

# What a daemon that never decodes an upload itself stays under (issue 14: 2 GB before).
MAX_DAEMON_RSS_MB = 200


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Secret:
    return Secret.make(tmp_path_factory.mktemp("elsewhere"))


def submit(
    server: ServerProcess,
    op: str,
    payload: bytes,
    media_type: str,
    source: str | None = None,
    **params: Any,
) -> str:
    client = SpecClient(server.host, server.port, source)
    try:
        answer = client.request({"op": op, **params}, media_type=media_type, payload=payload)
    finally:
        client.close()
    assert answer.doc.get("status") == "accepted", answer.doc
    return str(answer.doc["job_id"])


def ask(server: ServerProcess, doc: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    client = SpecClient(server.host, server.port, source)
    try:
        return client.request(doc).doc
    finally:
        client.close()


def peak_rss_mb(server: ServerProcess) -> float:
    """The daemon's own peak resident memory (VmHWM), from /proc: not a sample."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def no_traceback(server: ServerProcess) -> bool:
    return not any("Traceback" in line for line in server.log)


def holds_secret(server: ServerProcess, secret: Secret) -> list[Path]:
    """Files in storage holding any 4 KiB of the secret (or all of it)."""
    data = secret.path.read_bytes()
    chunks = [data[i : i + 4096] for i in range(0, len(data) - 4096, 4096)]
    return [
        path
        for path in server.storage_dir.rglob("*")
        if path.is_file() and any(chunk in path.read_bytes() for chunk in chunks)
    ]


PLAYLISTS = {
    "hls_vod": (hls_vod, "m3u8"),
    "hls_live": (hls_live, "m3u8"),
    "dash": (dash_manifest, "mpd"),
    "ffconcat": (ffconcat, "txt"),
}


@pytest.mark.parametrize("kind", sorted(PLAYLISTS))
def test_uploads_naming_files_outside_the_job_are_refused(
    start_server, secret: Secret, kind: str
) -> None:
    make, media_type = PLAYLISTS[kind]
    server = start_server()
    target = secret.path if kind != "hls_live" else secret.path.with_name("next.ts")
    job_id = submit(server, "convert", make(target), media_type, format="mkv")
    status = poll_until_done(server, job_id, timeout_s=60)
    assert status["state"] == "failed"
    assert status["error"]["code"] == "format_not_allowed"
    assert "docs/security.md" in status["error"]["solution"]
    assert ask(server, {"op": "download", "job_id": job_id})["error"]["code"] in (
        "job_not_done",
        "job_not_found",
    )
    assert wait_for(lambda: storage_leftovers(server) == [])
    assert holds_secret(server, secret) == []
    assert no_traceback(server)


def test_a_live_playlist_holds_no_slot(start_server, secret: Secret, clip_mp4: Path) -> None:
    """Issue 14: 112 bytes of live playlist held the only FFmpeg slot forever."""
    server = start_server("--max-jobs", "1")
    attacker, victim = "127.0.0.2", "127.0.0.3"
    live = submit(
        server, "convert", hls_live(secret.path.with_name("1.ts")), "m3u8", attacker, format="mkv"
    )
    honest = submit(server, "convert", clip_mp4.read_bytes(), "mp4", victim, format="mkv")
    answer = ask(server, {"op": "cancel", "job_id": live}, attacker)
    # Cancelled while queued or probing, or already refused: either way it is over.
    assert answer.get("status") == "cancelled" or answer["error"]["code"] == "job_finished"
    assert poll_until_done(server, live, timeout_s=60)["state"] in ("failed", "cancelled")
    assert poll_until_done(server, honest, timeout_s=120)["state"] == "done"
    # The attacker's address may send its next job.
    submit(server, "convert", clip_mp4.read_bytes(), "mp4", attacker, format="mkv")
    assert server.stop() == 0  # SIGTERM ends the daemon, mid-job included


def test_bombs_are_refused_from_the_probe_while_the_daemon_stays_small(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    for path, media_type, size in (
        (png_bomb(tmp_path / "bomb.png"), "png", "16000x16000"),
        (gif_bomb(tmp_path / "bomb.gif"), "gif", "8000x8000"),
    ):
        assert path.stat().st_size < 1_000_000
        job_id = submit(server, "convert", path.read_bytes(), media_type, format="mkv")
        status = poll_until_done(server, job_id, timeout_s=60)
        assert status["state"] == "failed", status
        assert status["error"]["code"] == "media_too_large"
        assert size in status["error"]["description"]
    assert peak_rss_mb(server) < MAX_DAEMON_RSS_MB
    assert wait_for(lambda: storage_leftovers(server) == [])
    assert no_traceback(server)


def test_a_result_past_its_output_cap_fails_cleanly(start_server, tmp_path: Path) -> None:
    """convert's cap is 4 x input + 64 MiB: raw frames of a compressed clip pass it."""
    clip = make_clip(
        tmp_path / "clip.mp4",
        seconds=8,
        size="1280x720",
        audio=False,
        video_args=("-c:v", "libx264", "-preset", "ultrafast", "-crf", "35"),
    )
    server = start_server()
    job_id = submit(server, "convert", clip.read_bytes(), "mp4", format="yuv4mpegpipe")
    status = poll_until_done(server, job_id, timeout_s=180)
    assert status["state"] == "failed"
    assert status["error"]["code"] == "result_too_large"
    assert wait_for(lambda: storage_leftovers(server) == [])
    assert no_traceback(server)
