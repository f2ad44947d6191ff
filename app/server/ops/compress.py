"""`compress`: a smaller file that looks like the original, settings chosen per file (SPEC §4).

The parameters are the op table's (app/protocol/ops); the job itself is
app/media/compress/ (pipeline.py).
"""

from __future__ import annotations

from typing import Any

from app.media.compress.pipeline import CompressRequest, compress_file
from app.protocol.ops.table import DEFAULT_TARGET_VMAF
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.params import static_check


class CompressOp:
    name = "compress"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        # Never larger than the input: anything bigger is discarded anyway.
        return input_size

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        target = ctx.params.get("target_vmaf")
        request = CompressRequest(
            ffmpeg=ctx.ffmpeg,
            src=ctx.input_path,
            info=ctx.info,
            # None: chosen from the input (h264; h265 for HDR, which keeps it).
            codec=ctx.params.get("codec"),
            target_vmaf=float(DEFAULT_TARGET_VMAF if target is None else target),
            output=ctx.output_path,
            limit_bytes=ctx.output_limit_bytes,
            limits=ctx.limits,
        )
        outcome = await compress_file(request, ctx.on_progress)
        if outcome.media_type is None:  # already well compressed: the input is the result
            return OpOutcome(ctx.input_media_type, reuse_input=True, report=outcome.report)
        return OpOutcome(outcome.media_type, report=outcome.report)
