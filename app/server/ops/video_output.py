"""The result of a video op (resize, aspect): the main video re-encoded through the op's
filters, every other stream kept as the container allows (SPEC §3.1).

MP4 by default; MKV when MP4 would lose picture subtitles or attachments
(stream_plan.video_result_for). SDR video becomes H.264; HDR video HEVC Main10 with its
colour and light metadata (video_treatment.py).
"""

from __future__ import annotations

from typing import Any

from app.media.argv import OutputSpec, video_result_argv
from app.media.fidelity_report import fidelity_report
from app.media.stream_plan import VideoResult, plan_video_result
from app.server.ops.base import OpContext
from app.server.ops.encoding import encode


async def encode_video_result(
    ctx: OpContext, video_chain: str, why: str, too_large_hint: str
) -> tuple[VideoResult, dict[str, Any]]:
    """Run the op's video chain into the video result; returns it and the report's
    fidelity fields."""
    result, plan, treatment = plan_video_result(ctx.info, why)
    argv = video_result_argv(
        ctx.ffmpeg,
        ctx.input_path,
        OutputSpec(ctx.output_path, result.muxer),
        plan,
        result.rule,
        treatment,
        video_chain,
    )
    await encode(ctx, argv, ctx.info.duration_s, too_large_hint)
    return result, fidelity_report(ctx.info, result, plan, treatment)
