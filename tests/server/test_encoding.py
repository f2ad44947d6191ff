"""An op's FFmpeg run stays inside its output allowance; missing encoders are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.media.argv import OutputSpec, resize_chain, video_result_argv
from app.media.capabilities import require_encoders
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.geometry import Size
from app.media.probe import probe_media
from app.media.stream_plan import plan_video_result
from app.protocol.errors import ErrorCode, VcsError
from app.server.ops.base import OpContext
from app.server.ops.encoding import encode


def context(src: Path, out: Path, limit_bytes: int) -> OpContext:
    return OpContext(
        ffmpeg=find_ffmpeg(),
        input_path=src,
        input_media_type="mp4",
        info=probe_media(src),
        params={},
        output_path=out,
        output_limit_bytes=limit_bytes,
        on_progress=lambda progress, phase: None,
    )


def resize_argv(ctx: OpContext, size: Size) -> list[str]:
    result, plan, treatment = plan_video_result(ctx.info, "resized")
    out = OutputSpec(ctx.output_path, result.muxer)
    return video_result_argv(
        ctx.ffmpeg, ctx.input_path, out, plan, result.rule, treatment, resize_chain(size)
    )


@pytest.mark.trio
async def test_a_result_cut_at_the_limit_is_refused(small_clips, tmp_path: Path) -> None:
    ctx = context(small_clips["mp4"], tmp_path / "out.part", limit_bytes=20_000)
    argv = resize_argv(ctx, Size(640, 480))
    with pytest.raises(VcsError) as info:
        await encode(ctx, argv, ctx.info.duration_s, "Pick a smaller size.")
    assert info.value.code is ErrorCode.RESULT_TOO_LARGE
    assert info.value.info.solution == "Pick a smaller size."


@pytest.mark.trio
async def test_a_result_within_the_limit_is_kept(small_clips, tmp_path: Path) -> None:
    ctx = context(small_clips["mp4"], tmp_path / "out.part", limit_bytes=50_000_000)
    argv = resize_argv(ctx, Size(160, 120))
    size = await encode(ctx, argv, ctx.info.duration_s, "unused")
    assert size == ctx.output_path.stat().st_size > 0


def test_missing_encoders_are_named() -> None:
    require_encoders(find_ffmpeg(), "libx264", "libopus")
    with pytest.raises(VcsError) as info:
        require_encoders(find_ffmpeg(), "libx264", "libnosuchcodec")
    assert info.value.code is ErrorCode.ENCODER_MISSING
    assert "libnosuchcodec" in info.value.info.description
