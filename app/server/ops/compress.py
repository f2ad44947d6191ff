"""`compress`: a smaller file that looks like the original (SPEC §4)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, h264_aac_mp4_argv
from app.media.runner import run_ffmpeg
from app.server.ops.base import OpContext, OpOutcome, choice_param, require_video

CODECS: Final = ("h264", "h265", "av1")
# The result must be clearly smaller than the input, or the input is returned (SPEC §4).
KEEP_RATIO: Final = 0.95


class CompressOp:
    name = "compress"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"codec": choice_param(doc, "codec", CODECS, "h264")}

    def output_allowance(self, input_size: int) -> int:
        # Never larger than the input: anything bigger is discarded anyway.
        return input_size

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        argv = h264_aac_mp4_argv(
            ctx.ffmpeg,
            ctx.input_path,
            OutputSpec(ctx.output_path, "mp4"),
            ctx.info,
            crf=23,
            preset="medium",
        )
        argv[-1:-1] = ["-fs", str(ctx.output_limit_bytes)]
        await run_ffmpeg(argv, ctx.info.duration_s, lambda p: ctx.on_progress(p, "encoding"))
        input_size = ctx.info.size_bytes
        output_size = ctx.output_path.stat().st_size
        if output_size >= KEEP_RATIO * input_size:
            return OpOutcome(
                media_type=ctx.input_media_type,
                reuse_input=True,
                report={
                    "outcome": "already_compressed",
                    "note": "The input is already well compressed; it is returned unchanged.",
                    "codec": ctx.info.video.codec if ctx.info.video else None,
                },
            )
        return OpOutcome(
            media_type="mp4",
            report={"outcome": "compressed", "codec": "h264", "crf": 23, "preset": "medium"},
        )
