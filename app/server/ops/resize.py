"""`resize`: a new frame size, by width and/or height or a preset (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, resize_argv
from app.media.geometry import resize_size
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, bad_params, require_video
from app.server.ops.encoding import MiB, encode

# Re-encoding at a larger size can outgrow the input several times over.
GROWTH: Final = 8


class ResizeOp:
    name = "resize"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        width, height = params.dimension(doc, "width"), params.dimension(doc, "height")
        lines = params.preset(doc)
        if lines is not None and (width is not None or height is not None):
            raise bad_params(
                "Give either a preset or width/height, not both.",
                'Send e.g. "preset": "720p", or "width": 1280 (the height follows).',
            )
        if lines is None and width is None and height is None:
            raise bad_params(
                "resize needs a width, a height or a preset.",
                'Send e.g. "width": 1280, or "preset": "720p" (480p, 720p, 1080p, 1440p, 2160p).',
            )
        return {"width": width, "height": height, "preset_lines": lines}

    def output_allowance(self, input_size: int) -> int:
        return GROWTH * input_size + 64 * MiB

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        assert ctx.info.video is not None
        p = ctx.params
        size = resize_size(ctx.info.video, p["width"], p["height"], p["preset_lines"])
        argv = resize_argv(
            ctx.ffmpeg, ctx.input_path, OutputSpec(ctx.output_path, "mp4"), ctx.info, size
        )
        await encode(ctx, argv, ctx.info.duration_s, "Pick a smaller size.")
        return OpOutcome(
            media_type="mp4",
            report={"width": size.width, "height": size.height, "codec": "h264"},
        )
