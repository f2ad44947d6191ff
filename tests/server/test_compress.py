"""`compress` end to end: a measured quality that FFmpeg confirms, progress through the
phases, and an already compressed input handed back untouched (SPEC §4, issue 5)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from app.media.ffmpeg_exe import find_ffmpeg
from tests.media_files import make_clip, probe
from tests.server_process import ServerProcess
from tests.spec_client import SpecClient

TERMINAL = ("done", "failed", "cancelled")


def submit(server: ServerProcess, path: Path, **params: object) -> str:
    client = SpecClient(server.host, server.port)
    try:
        doc = {"op": "compress", **params}
        answer = client.request(doc, media_type="mp4", payload=path.read_bytes())
    finally:
        client.close()
    assert answer.doc.get("status") == "accepted", answer.doc
    return str(answer.doc["job_id"])


def follow(server: ServerProcess, job_id: str, timeout_s: float = 120) -> list[dict]:
    """Every status the long poll reports (it answers when progress moves by 1 %)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client = SpecClient(server.host, server.port)
        try:
            status = client.request({"op": "status", "job_id": job_id, "wait_s": 5}).doc
        finally:
            client.close()
        seen.append(status)
        if status["state"] in TERMINAL:
            return seen
    raise AssertionError(f"job did not finish: {seen[-1:]}")


def download(server: ServerProcess, job_id: str, out: Path) -> dict:
    client = SpecClient(server.host, server.port)
    try:
        got = client.request({"op": "download", "job_id": job_id})
    finally:
        client.close()
    out.write_bytes(got.payload)
    return got.doc


def vmaf_every_frame(distorted: Path, reference: Path, log: Path) -> float:
    """FFmpeg's own libvmaf on every frame, frame n against frame n: no code of ours."""
    graph = (
        "[0:v]settb=AVTB,setpts=N[d];[1:v]settb=AVTB,setpts=N[r];"
        f"[d][r]libvmaf=n_threads=2:log_fmt=json:log_path={log}"
    )
    inputs = ["-i", str(distorted), "-i", str(reference)]
    to_nowhere = ["-f", "null", "-"]
    subprocess.run(
        [find_ffmpeg(), "-nostdin", "-loglevel", "error", *inputs, "-lavfi", graph, *to_nowhere],
        check=True,
        timeout=120,
    )
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


@pytest.fixture(scope="module")
def camera_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of detailed motion with grain, stored at high quality, as a camera would."""
    return make_clip(
        tmp_path_factory.mktemp("compress") / "camera.mp4",
        seconds=6,
        size="320x240",
        extra=("-vf", "noise=alls=10:allf=t"),
    )


def test_compress_reports_a_quality_ffmpeg_confirms(
    server: ServerProcess, camera_like: Path, tmp_path: Path
) -> None:
    job_id = submit(server, camera_like, target_vmaf=90)
    seen = follow(server, job_id)
    final = seen[-1]
    assert final["state"] == "done", final
    result = final["result"]

    # Progress moved through the phases and never went back.
    running = [s for s in seen if s["state"] == "running"]
    assert any(s["phase"] == "searching" and s["progress"] > 0 for s in running), running
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress)

    assert result["outcome"] == "compressed"
    assert (result["codec"], result["encoder"], result["metric"]) == ("h264", "libx264", "vmaf")
    assert result["target_vmaf"] == 90
    assert 10 <= result["crf"] <= 42 and result["search"]["trials"]
    assert result["quality_measured_on"].startswith("whole file")
    assert result["input_size"] == camera_like.stat().st_size
    assert result["output_size"] == result["size"] < result["input_size"]
    assert result["reduction"] == pytest.approx(1 - result["size"] / result["input_size"], abs=1e-3)

    out = tmp_path / "out.mp4"
    doc = download(server, job_id, out)
    assert doc["report"]["vmaf"] == result["vmaf"]
    assert probe(out)["video_codec"] == "h264" and probe(out)["audio_codec"] == "aac"
    measured = vmaf_every_frame(out, camera_like, tmp_path / "vmaf.json")
    # The reported score is real (it may score 1 frame in n: a small tolerance) ...
    assert measured == pytest.approx(result["vmaf"], abs=1.0)
    # ... and the search found the target, judged on the whole file.
    assert measured >= 90 - 1.5


def test_an_already_compressed_input_comes_back_unchanged(
    server: ServerProcess, tmp_path: Path
) -> None:
    # AV1 at a low rate: H.264 needs more bits than that for the same picture.
    clip = make_clip(
        tmp_path / "av1.mp4",
        seconds=3,
        size="320x240",
        video_args=("-c:v", "libsvtav1", "-preset", "10", "-crf", "50"),
        audio_args=("-c:a", "aac", "-b:a", "48k"),
    )
    job_id = submit(server, clip)
    final = follow(server, job_id)[-1]
    assert final["state"] == "done", final
    result = final["result"]
    assert result["outcome"] == "already_compressed"
    assert "already well compressed" in result["note"]
    assert result["codec"] == "av1" and result["tried"]["codec"] == "h264"
    assert result["output_size"] == result["input_size"] and result["reduction"] == 0
    out = tmp_path / "back.mp4"
    doc = download(server, job_id, out)
    assert doc["media_type"] == "mp4"
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(clip.read_bytes()).digest()


# (null is the field left out, for every op: the op table's one rule for absent fields.)
@pytest.mark.parametrize("target", [59.9, 99.5, "93", True, [93], 10**400])
def test_target_vmaf_out_of_range_is_refused_before_the_upload(
    server: ServerProcess, clip_mp4: Path, target: object
) -> None:
    client = SpecClient(server.host, server.port)
    try:
        answer = client.request(
            {"op": "compress", "target_vmaf": target}, media_type="mp4", payload=b"x" * 10
        )
    finally:
        client.close()
    assert answer.doc["error"]["code"] == "bad_params"
    assert "target_vmaf" in answer.doc["error"]["description"]
    assert server.files() == []
