"""`webm`: a time range as VP9 + Opus WEBM (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, webm_argv
from app.media.geometry import clip_size
from app.protocol.ops.table import WEBM_DEFAULT_MAX_WIDTH_PX
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB, encode

# At most 60 s of VP9 (CRF 32): tens of MB even at 4K.
MAX_WEBM_BYTES: Final = 512 * MiB


class WebmOp:
    name = "webm"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return params.static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        return MAX_WEBM_BYTES

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        assert ctx.info.video is not None
        span = params.resolve_span(ctx.params, ctx.info)
        size = clip_size(
            ctx.info.video, ctx.params["width"], WEBM_DEFAULT_MAX_WIDTH_PX, even_sides=True
        )
        argv = webm_argv(
            ctx.ffmpeg, ctx.input_path, OutputSpec(ctx.output_path, "webm"), ctx.info, span, size
        )
        await encode(ctx, argv, span.length_s, "Pick a shorter span or a smaller width.")
        return OpOutcome(
            media_type="webm",
            report={
                "start": span.start_s,
                "end": span.end_s,
                "width": size.width,
                "height": size.height,
                "codecs": ["vp9", "opus"] if ctx.info.audio else ["vp9"],
            },
        )
