"""`compress`: a smaller file that looks like the original, settings chosen per file (SPEC §4).

The parameters are checked here; the job itself is app/media/compress/ (pipeline.py).
"""

from __future__ import annotations

from typing import Any, Final

from app.media.compress.pipeline import CompressRequest, compress_file
from app.server.ops.base import OpContext, OpOutcome, bad_params, choice_param, require_video

CODECS: Final = ("h264", "h265", "av1")
DEFAULT_TARGET_VMAF: Final = 93.0
# VMAF below 60 is visibly poor; above 99 costs bits no eye sees.
MIN_TARGET_VMAF: Final = 60.0
MAX_TARGET_VMAF: Final = 99.0


def target_vmaf_param(doc: dict[str, Any]) -> float:
    value = doc.get("target_vmaf", DEFAULT_TARGET_VMAF)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_TARGET_VMAF <= value <= MAX_TARGET_VMAF
    ):
        raise bad_params(
            f"'target_vmaf' must be a number from {MIN_TARGET_VMAF:g} to {MAX_TARGET_VMAF:g}; "
            f"got {value!r:.40}.",
            f"Leave it out for the default ({DEFAULT_TARGET_VMAF:g}: looks like the original), "
            "or pick a number in that range (higher: better looking, bigger).",
        )
    return float(value)


class CompressOp:
    name = "compress"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {
            # Absent: chosen from the input (h264; h265 for HDR, which keeps it).
            "codec": (None if doc.get("codec") is None else choice_param(doc, "codec", CODECS, "")),
            "target_vmaf": target_vmaf_param(doc),
        }

    def output_allowance(self, input_size: int) -> int:
        # Never larger than the input: anything bigger is discarded anyway.
        return input_size

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        request = CompressRequest(
            ffmpeg=ctx.ffmpeg,
            src=ctx.input_path,
            info=ctx.info,
            codec=ctx.params.get("codec"),
            target_vmaf=float(ctx.params.get("target_vmaf", DEFAULT_TARGET_VMAF)),
            output=ctx.output_path,
            limit_bytes=ctx.output_limit_bytes,
        )
        outcome = await compress_file(request, ctx.on_progress)
        if outcome.media_type is None:  # already well compressed: the input is the result
            return OpOutcome(ctx.input_media_type, reuse_input=True, report=outcome.report)
        return OpOutcome(outcome.media_type, report=outcome.report)
