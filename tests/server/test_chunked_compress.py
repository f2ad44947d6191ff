"""`compress` in chunks through a real vcs-serve (VCS_COMPRESS_CHUNKS=always): the
result keeps every stream, the report gives each chunk, no work directory is left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from app.media.media_info import MediaInfo
from app.server.ops.compress import CHUNKS_ENV, chunk_mode, compresses_in_chunks, only_cancelled
from tests.server.test_compress import download, follow
from tests.support.fidelity_media import multi_scene_clip
from tests.support.media_files import probe
from tests.support.server_process import ServerProcess
from tests.support.spec_client import SpecClient


def test_a_chunked_compress_through_the_server(
    start_server: Callable[..., ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHUNKS_ENV, "always")
    server = start_server()
    clip = multi_scene_clip(tmp_path / "shots.mkv")
    client = SpecClient(server.host, server.port)
    try:
        answer = client.request(
            {"op": "compress", "target_vmaf": 92}, media_type="mkv", payload=clip.read_bytes()
        )
    finally:
        client.close()
    assert answer.doc.get("status") == "accepted", answer.doc
    job_id = str(answer.doc["job_id"])
    seen = follow(server, job_id, timeout_s=300)
    final = seen[-1]
    assert final["state"] == "done", final
    result = final["result"]
    assert result["outcome"] == "compressed"
    assert len(result["chunks"]) == 4 and result["chunked"]["chunk_encodes"] >= 4
    assert {"crf_min", "crf_max", "vmaf_min", "vmaf_max"} <= set(result["chunk_spread"])
    assert result["output_size"] < result["input_size"]
    assert any(s.get("phase") == "encoding" for s in seen if s["state"] == "running")

    out = tmp_path / "out.mkv"
    download(server, job_id, out)
    got = probe(out)
    assert got["video_codec"] == "h264" and got["audio_codec"] == "aac"
    # The work directory (beside FFmpeg's output, in work/) went with the job.
    leftovers = [
        p
        for sub in ("results", "work")
        for p in (server.storage_dir / sub).iterdir()
        if p.is_dir() or p.name.endswith(".chunks")
    ]
    assert leftovers == []


def test_which_inputs_are_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    def info(format_name: str, duration_s: float) -> MediaInfo:
        return MediaInfo(format_name, duration_s, 1000, None, None, None)

    assert compresses_in_chunks(info("matroska,webm", 60.0), "auto")
    assert not compresses_in_chunks(info("matroska,webm", 10.0), "auto")
    assert compresses_in_chunks(info("mov,mp4,m4a,3gp,3g2,mj2", 10.0), "always")
    # MPEG-TS seeks by bytes: never chunked; "never" is never.
    assert not compresses_in_chunks(info("mpegts", 600.0), "always")
    assert not compresses_in_chunks(info("matroska,webm", 600.0), "never")
    monkeypatch.setenv(CHUNKS_ENV, "bogus")
    assert chunk_mode() == "auto"


def test_a_shutdown_keeps_the_work_directory_and_a_failure_does_not() -> None:
    cancelled = trio.Cancelled._create()  # what trio raises into a cancelled task
    assert only_cancelled(cancelled)
    assert only_cancelled(BaseExceptionGroup("workers", [cancelled, trio.Cancelled._create()]))
    assert not only_cancelled(BaseExceptionGroup("workers", [cancelled, ValueError()]))
    assert not only_cancelled(ValueError())
