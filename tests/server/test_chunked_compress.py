"""`compress` in chunks through a real vcs-serve (VCS_COMPRESS_CHUNKS=always): the
result keeps every stream, the report gives each chunk, no work directory is left; a
server killed mid-job finishes it after its restart without redoing a finished chunk."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from app.media.ffmpeg_exe import find_ffmpeg
from app.media.media_info import MediaInfo
from app.media.sandbox import SANDBOX_ENV
from app.server.ops.compress import CHUNKS_ENV, chunk_mode, compresses_in_chunks, only_cancelled
from tests.server.test_compress import download, follow
from tests.support.fidelity_media import multi_scene_clip
from tests.support.media_files import decode_all_frames, probe
from tests.support.server_process import ServerProcess, kill_with_children, wait_for
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


def counting_ffmpeg(directory: Path) -> tuple[Path, Path]:
    """A `--ffmpeg` that is the real FFmpeg, each run's arguments written to a log first
    (one line per run, appended: runs of both lives of a server end up in it)."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "runs.log"
    wrapper = directory / "ffmpeg"
    wrapper.write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nexec '{find_ffmpeg()}' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    return wrapper, log


def chunk_encodes(lines: list[str]) -> list[tuple[int, float]]:
    """(chunk index, CRF) of every chunk encode among logged FFmpeg runs."""
    runs = []
    for line in lines:
        if (out := re.search(r"\.chunk-(\d+)\.nut\.part$", line)) is not None:
            crf = re.search(r"-crf (\S+)", line)
            assert crf is not None, line
            runs.append((int(out.group(1)), float(crf.group(1))))
    return runs


def test_a_killed_server_resumes_a_chunked_job_from_its_finished_chunks(
    start_server: Callable[..., ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHUNKS_ENV, "always")
    # FFmpeg as a direct child, so the log's wrapper runs it (the bwrap box runs the
    # binary it is given inside an empty root, where a shell script has no shell).
    monkeypatch.setenv(SANDBOX_ENV, "rlimits")
    wrapper, log = counting_ffmpeg(tmp_path / "bin")
    server = start_server("--max-jobs", "1", "--ffmpeg", str(wrapper))
    clip = multi_scene_clip(tmp_path / "shots.mkv", shots=6)
    answer = SpecClient(server.host, server.port).request(
        {"op": "compress", "target_vmaf": 92}, media_type="mkv", payload=clip.read_bytes()
    )
    job_id = str(answer.doc["job_id"])
    manifest = server.storage_dir / "work" / f".{job_id}.job" / "manifest.json"

    def finished_chunks() -> dict[str, dict]:
        try:
            return json.loads(manifest.read_text())["chunks"]
        except (OSError, ValueError):
            return {}

    assert wait_for(lambda: len(finished_chunks()) >= 1, 240), "".join(server.log)
    kill_with_children(server)
    done_before = {(c["index"], c["crf"]) for c in finished_chunks().values()}
    first_life = log.read_text().splitlines()

    server.start()
    final = follow(server, job_id, timeout_s=300)[-1]
    assert final["state"] == "done", final
    second_life = log.read_text().splitlines()[len(first_life) :]
    # Nothing finished before the kill ran again: no trial, no chunk at the same CRF.
    assert not [line for line in second_life if ".trial-" in line]
    again = chunk_encodes(second_life)
    assert again and not done_before & set(again), (done_before, again)
    result = final["result"]
    assert result["chunked"]["chunks_reused"] >= len(done_before)
    assert result["outcome"] == "compressed"
    assert 1 <= len(done_before) < len(result["chunks"]), done_before  # killed mid-encode
    # The result plays: every frame once, the other streams kept.
    out = tmp_path / "out.mkv"
    download(server, job_id, out)
    assert decode_all_frames(out) == decode_all_frames(clip)
    assert probe(out)["audio_codec"] == "aac"
    assert not (server.storage_dir / "work" / f".{job_id}.job").exists()
