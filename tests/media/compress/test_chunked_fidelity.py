"""A chunked compress of phone-, HDR- and movie-shaped clips, checked as a player sees
the result (tests/support/player_view.py): a rotated clip stays upright at its shown
size, HDR10 stays 10-bit PQ with its mastering and light-level metadata, HLG stays HLG,
a movie keeps both audio tracks, both subtitle tracks, chapters and its font; every
frame once."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from app.media.compress.chunk_job import ChunkedRuns, ChunkingOptions
from app.media.compress.chunked_pipeline import compress_chunked
from app.media.compress.pipeline import CompressOutcome, CompressRequest
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.upload_probe import probe_upload
from tests.server.test_fidelity import assert_hdr10, assert_tracks_kept, assert_upright
from tests.support.fidelity_media import hdr_clip, movie_mkv, phone_clip
from tests.support.media_files import decode_all_frames
from tests.support.player_view import player_view, tags

# Chunks of 1–2 s: a short clip makes several, as a long one would.
SHORT_CHUNKS = ChunkingOptions(min_s=1.0, max_s=2.0)


def chunked(src: Path, out: Path, work: Path) -> CompressOutcome:
    async def run() -> CompressOutcome:
        info = await probe_upload(src)
        request = CompressRequest(find_ffmpeg(), src, info, None, 93.0, out, info.size_bytes)
        return await compress_chunked(request, work, lambda *_: None, SHORT_CHUNKS, ChunkedRuns())

    return trio.run(run)


@pytest.mark.parametrize("kind", ["phone", "hdr10", "hlg", "movie"])
def test_a_chunked_result_shows_as_its_source_does(tmp_path: Path, kind: str) -> None:
    if kind == "phone":
        src = phone_clip(tmp_path / "phone.mp4", seconds=5.0)
    elif kind == "movie":
        src = movie_mkv(tmp_path / "movie.mkv", seconds=4.0)
    else:
        transfer = "smpte2084" if kind == "hdr10" else "arib-std-b67"
        src = hdr_clip(tmp_path / f"{kind}.mp4", transfer, seconds=4.0, crf=4)
    out = tmp_path / "out.part"
    outcome = chunked(src, out, tmp_path / "work")
    report = outcome.report
    assert report["outcome"] == "compressed", report
    assert len(report["chunks"]) >= 2 and "chunked_fallback" not in report
    result = out.rename(tmp_path / f"out.{outcome.media_type}")
    assert decode_all_frames(result) == decode_all_frames(src)
    view = player_view(result)
    if kind == "phone":
        assert [a["codec_name"] for a in view.of_kind("audio")] == ["aac"]
        assert_upright(result, (360, 640))
        assert report["source_orientation"] == "rotated 90° clockwise"
    elif kind == "hdr10":
        assert report["hdr"] == "kept"
        assert_hdr10(result)
    elif kind == "hlg":
        assert report["hdr"] == "kept"
        assert (view.video["pix_fmt"], view.video["color_transfer"]) == (
            "yuv420p10le",
            "arib-std-b67",
        )
    else:
        assert outcome.media_type == "mkv"
        assert_tracks_kept(result)
        codecs = [s["codec_name"] for s in view.of_kind("subtitle")]
        assert codecs == ["subrip", "dvd_subtitle"]
        [font] = view.of_kind("attachment")
        assert tags(font)["filename"] == "DejaVuSans.ttf"
