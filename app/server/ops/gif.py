"""`gif`: a time range as an animated GIF with its own palette (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, gif_argv
from app.media.geometry import clip_size
from app.protocol.ops.table import GIF_DEFAULT_WIDTH_PX
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB, encode

# GIF is lossless per frame: 60 s at 30 fps and 1280 px can pass 100 MB. Bigger is refused.
MAX_GIF_BYTES: Final = 256 * MiB


class GifOp:
    name = "gif"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return params.static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        return MAX_GIF_BYTES

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        assert ctx.info.video is not None
        span = params.resolve_span(ctx.params, ctx.info)
        size = clip_size(
            ctx.info.video, ctx.params["width"], GIF_DEFAULT_WIDTH_PX, even_sides=False
        )
        fps = float(ctx.params["fps"])
        argv = gif_argv(
            ctx.ffmpeg, ctx.input_path, OutputSpec(ctx.output_path, "gif"), span, size, fps
        )
        await encode(ctx, argv, span.length_s, "Pick a shorter span, a smaller width or fewer fps.")
        return OpOutcome(
            media_type="gif",
            report={
                "start": span.start_s,
                "end": span.end_s,
                "fps": fps,
                "width": size.width,
                "height": size.height,
            },
        )
