"""A chunked compress of phone- and HDR-shaped clips, checked as a player sees the
result (tests/support/player_view.py): a rotated clip stays upright at its shown size,
HDR10 stays 10-bit PQ with its mastering and light-level metadata, every frame once."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from app.media.compress.chunk_job import ChunkedRuns, ChunkingOptions
from app.media.compress.chunked_pipeline import compress_chunked
from app.media.compress.pipeline import CompressOutcome, CompressRequest
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.upload_probe import probe_upload
from tests.server.test_fidelity import assert_hdr10, assert_upright
from tests.support.fidelity_media import hdr_clip, phone_clip
from tests.support.media_files import decode_all_frames
from tests.support.player_view import player_view

# Chunks of 1–2 s: a short clip makes several, as a long one would.
SHORT_CHUNKS = ChunkingOptions(min_s=1.0, max_s=2.0)


def chunked(src: Path, out: Path, work: Path) -> CompressOutcome:
    async def run() -> CompressOutcome:
        info = await probe_upload(src)
        request = CompressRequest(find_ffmpeg(), src, info, None, 93.0, out, info.size_bytes)
        return await compress_chunked(request, work, lambda *_: None, SHORT_CHUNKS, ChunkedRuns())

    return trio.run(run)


@pytest.mark.parametrize("kind", ["phone", "hdr10"])
def test_a_chunked_result_shows_as_its_source_does(tmp_path: Path, kind: str) -> None:
    if kind == "phone":
        src = phone_clip(tmp_path / "phone.mp4", seconds=5.0)
    else:
        src = hdr_clip(tmp_path / "hdr10.mp4", "smpte2084", seconds=4.0, crf=4)
    out = tmp_path / "out.part"
    outcome = chunked(src, out, tmp_path / "work")
    report = outcome.report
    assert report["outcome"] == "compressed", report
    assert len(report["chunks"]) >= 2 and "chunked_fallback" not in report
    result = out.rename(tmp_path / f"out.{outcome.media_type}")
    assert decode_all_frames(result) == decode_all_frames(src)
    view = player_view(result)
    assert [a["codec_name"] for a in view.of_kind("audio")] == ["aac"]
    if kind == "phone":
        assert_upright(result, (360, 640))
        assert report["source_orientation"] == "rotated 90° clockwise"
    else:
        assert report["hdr"] == "kept"
        assert_hdr10(result)
