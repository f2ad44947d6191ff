"""`resize`: a new frame size, by width and/or height or a preset (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, resize_argv
from app.media.geometry import resize_size
from app.protocol.ops.table import PRESET_LINES
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB, encode

# Re-encoding at a larger size can outgrow the input several times over.
GROWTH: Final = 8


class ResizeOp:
    name = "resize"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        values = params.static_check(self.name, doc)
        preset = values["preset"]
        lines = None if preset is None else PRESET_LINES[preset]
        return {"width": values["width"], "height": values["height"], "preset_lines": lines}

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
