"""The result of a video op (resize, aspect): the main video re-encoded through the op's
filters, every other stream kept as the container allows (SPEC §3.1).

MP4 by default; MKV when MP4 would lose picture subtitles or attachments
(stream_plan.video_result_for). SDR video becomes H.264; HDR video HEVC Main10 with its
colour and light metadata (video_treatment.py).
"""

from __future__ import annotations

from typing import Any

from app.media.argv import OutputSpec, video_result_argv
from app.media.containers import X264
from app.media.fidelity_report import fidelity_report
from app.media.probe import MediaInfo
from app.media.stream_plan import (
    Fate,
    StreamDecision,
    StreamPlan,
    VideoResult,
    copy_or_encode,
    plan_output_streams,
    video_result_for,
)
from app.media.video_treatment import X265_HDR, VideoTreatment, treat_video
from app.server.ops.base import OpContext
from app.server.ops.encoding import encode


def plan_video_result(info: MediaInfo, why: str) -> tuple[VideoResult, StreamPlan, VideoTreatment]:
    """The container, every stream's fate, and how the video is encoded (`why`: the
    op's reason for encoding it, for the report)."""
    assert info.video is not None
    colour = info.video.colour
    treatment = treat_video(colour, X265_HDR if colour.is_hdr else X264)
    result = video_result_for(info.streams)
    rule = result.rule

    def video(stream: Any) -> StreamDecision:
        return StreamDecision(stream, Fate.ENCODED, treatment.encoder, why)

    plan = plan_output_streams(
        info,
        rule,
        result.container,
        video,
        copy_or_encode(rule.audio_copy, rule.audio_encoder, result.container),
    )
    return result, plan, treatment


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
