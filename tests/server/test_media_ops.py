"""Every media op end to end: a real vcs-serve, real FFmpeg, results probed (SPEC §2.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import pytest
import trio

from app.client.api import VcsClient
from app.client.workflow import wait_for_job
from tests.media_files import decode_all_frames, probe
from tests.server_process import ServerProcess
from tests.spec_client import SpecClient, header64

CLIP_S = 3.0
CLIP_FPS = 25


def run_job(
    server: ServerProcess, op: str, path: Path, params: dict[str, Any], out_dir: Path
) -> tuple[dict[str, Any], Path | None]:
    """Upload, wait, download; returns the final status and the result (None on failure)."""

    async def go() -> tuple[dict[str, Any], Path | None]:
        client = VcsClient(server.address)
        accepted = await client.upload(op, path, params)
        status = await wait_for_job(client, accepted["job_id"], poll_interval_s=10)
        if status["state"] != "done":
            return status, None
        return status, (await client.download(accepted["job_id"], out_dir)).path

    return trio.run(go)


def done(server, op, path, params, out_dir) -> tuple[dict[str, Any], Path]:
    status, result = run_job(server, op, path, params, out_dir)
    assert status["state"] == "done", status
    assert result is not None
    return status["result"], result


def failure(server, op, path, params, out_dir) -> dict[str, Any]:
    status, result = run_job(server, op, path, params, out_dir)
    assert status["state"] == "failed" and result is None, status
    return status["error"]


@pytest.mark.parametrize(
    ("params", "width", "height", "dar"),
    [
        ({"width": 160}, 160, 120, "4:3"),
        ({"height": 180, "width": 200}, 200, 180, "10:9"),  # both sides: the shape changes
        ({"preset": "480p", "upscale": True}, 640, 480, "4:3"),
        ({"preset": "480p"}, 320, 240, "4:3"),  # never enlarged unless asked
    ],
)
def test_resize(ops_server, small_clips, tmp_path, params, width, height, dar) -> None:
    report, result = done(ops_server, "resize", small_clips["mp4"], params, tmp_path)
    got = probe(result)
    assert (got["video_codec"], got["width"], got["height"]) == ("h264", width, height)
    assert got["dar"] == dar
    assert got["audio_codec"] == "aac" and result.suffix == ".mp4"
    assert (report["width"], report["height"]) == (width, height)
    assert ("note" in report) == (params == {"preset": "480p"})


@pytest.mark.parametrize(
    ("mode", "ratio", "size"),
    [
        ("pad", "16:9", (426, 240)),
        ("crop", "16:9", (320, 180)),
        ("stretch", "16:9", (426, 240)),
        ("pad", "9:16", (320, 568)),
    ],
)
def test_aspect_display_ratio_is_the_one_asked(
    ops_server, small_clips, tmp_path, mode, ratio, size
) -> None:
    _, result = done(
        ops_server, "aspect", small_clips["mp4"], {"ratio": ratio, "mode": mode}, tmp_path
    )
    got = probe(result)
    assert got["dar"] == ratio
    assert (got["width"], got["height"]) == size


def test_audio_is_mp3_of_the_whole_track(ops_server, small_clips, tmp_path) -> None:
    report, result = done(ops_server, "audio", small_clips["mkv"], {"bitrate": 128}, tmp_path)
    with av.open(str(result)) as container:
        assert container.format.name == "mp3"
        [stream] = container.streams
        assert stream.type == "audio" and stream.codec_context.codec.canonical_name == "mp3"
        assert abs(container.duration / 1e6 - CLIP_S) < 0.1
        assert abs(container.bit_rate - 128_000) < 8_000
    assert result.suffix == ".mp3" and report["bitrate"] == "128k"


def test_audio_of_a_silent_video_fails_with_no_audio(ops_server, silent_clip, tmp_path) -> None:
    error = failure(ops_server, "audio", silent_clip, {}, tmp_path)
    assert error["code"] == "no_audio" and error["solution"]


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        return container.duration / 1e6


@pytest.mark.parametrize(
    ("params", "fps", "size"),
    [
        ({"start": 0.5, "end": 2.0}, 12, (320, 240)),  # default width is 480, never upscaled
        ({"start": "00:00:01.000", "end": "0:02.8", "fps": 10, "width": 161}, 10, (161, 121)),
    ],
)
def test_gif_lasts_the_span_within_one_frame(
    ops_server, small_clips, tmp_path, params, fps, size
) -> None:
    report, result = done(ops_server, "gif", small_clips["mov"], params, tmp_path)
    got = probe(result)
    assert (got["format"], got["video_codec"]) == ("gif", "gif")
    assert (got["width"], got["height"]) == size
    span = report["end"] - report["start"]
    assert abs(duration_s(result) - span) <= 1 / fps
    assert result.suffix == ".gif"


def test_webm_is_vp9_opus_and_lasts_the_span(ops_server, small_clips, tmp_path) -> None:
    params = {"start": 1, "end": 2.5, "width": 160}
    _, result = done(ops_server, "webm", small_clips["avi"], params, tmp_path)
    got = probe(result)
    assert (got["video_codec"], got["audio_codec"]) == ("vp9", "opus")
    assert (got["width"], got["height"]) == (160, 120)
    assert abs(duration_s(result) - 1.5) <= 1 / CLIP_FPS
    assert result.suffix == ".webm"


def test_webm_of_a_silent_video_has_no_audio(ops_server, silent_clip, tmp_path) -> None:
    _, result = done(ops_server, "webm", silent_clip, {"end": 1}, tmp_path)
    got = probe(result)
    assert got["video_codec"] == "vp9" and "audio_codec" not in got
    assert abs(duration_s(result) - 1.0) <= 1 / CLIP_FPS


@pytest.mark.parametrize(
    ("fmt", "container", "video", "audio", "actions"),
    [
        ("mkv", "matroska,webm", "h264", "aac", ["copied", "copied"]),
        ("mov", "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac", ["copied", "copied"]),
        ("webm", "matroska,webm", "vp9", "opus", ["encoded", "encoded"]),
        ("avi", "avi", "h264", "mp3float", ["copied", "encoded"]),
    ],
)
def test_convert_copies_what_fits_and_encodes_the_rest(
    ops_server, small_clips, tmp_path, fmt, container, video, audio, actions
) -> None:
    report, result = done(ops_server, "convert", small_clips["mp4"], {"format": fmt}, tmp_path)
    got = probe(result)
    assert (got["format"], got["video_codec"], got["audio_codec"]) == (container, video, audio)
    assert [s["action"] for s in report["streams"]] == actions
    assert result.suffix == f".{fmt}" and report["media_type"] == fmt
    assert decode_all_frames(result) == CLIP_S * CLIP_FPS


@pytest.mark.parametrize("fmt", ["mp4", "mkv", "mov", "webm", "avi"])
def test_inputs_in_every_common_container_are_accepted(
    ops_server, small_clips, tmp_path, fmt
) -> None:
    _, result = done(ops_server, "resize", small_clips[fmt], {"width": 160}, tmp_path)
    got = probe(result)
    assert (got["video_codec"], got["width"], got["height"]) == ("h264", 160, 120)
    assert decode_all_frames(result) == CLIP_S * CLIP_FPS


def test_a_range_past_the_end_fails_with_what_would_fit(ops_server, small_clips, tmp_path):
    error = failure(ops_server, "gif", small_clips["mp4"], {"start": 1, "end": 9}, tmp_path)
    assert error["code"] == "bad_params"
    assert error["description"] == "end 9 is past the video's 3 s duration."
    assert error["solution"] == "Pick end ≤ 3."


def test_an_end_within_a_frame_past_the_duration_is_clamped(ops_server, small_clips, tmp_path):
    # 3 s at 25 fps: 3.03 is less than a frame (40 ms) past the end, as a player rounds.
    report, result = done(
        ops_server, "gif", small_clips["mp4"], {"start": 2, "end": 3.03}, tmp_path
    )
    assert (report["start"], report["end"]) == (2, 3)
    assert "used 2..3 s" in report["note"]
    assert abs(duration_s(result) - 1.0) <= 1 / 12


@pytest.mark.parametrize(
    "doc",
    [
        {"op": "resize", "width": "1280; rm -rf /"},
        {"op": "aspect", "ratio": "16:9", "mode": "$(reboot)"},
        {"op": "gif", "start": -3, "end": 2},
        {"op": "convert", "format": "null"},
    ],
)
def test_hostile_requests_are_refused_before_the_payload(ops_server, doc) -> None:
    client = SpecClient(ops_server.host, ops_server.port)
    body = json.dumps(doc).encode()
    # Declare a payload but send none of it: the refusal must come first.
    client.send_bytes(header64(len(body), 3, 10**9) + body + b"mp4")
    answer = client.receive()
    assert answer.doc["error"]["code"] == "bad_params"
    assert answer.doc["error"]["solution"]
    assert client.is_closed()
    assert ops_server.files() == []
