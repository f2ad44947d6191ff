"""`resize`: a new frame size, by width and/or height or a preset (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import resize_chain
from app.media.geometry import resize_size
from app.protocol.ops.table import PRESET_LINES
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB
from app.server.ops.video_output import encode_video_result

# Re-encoding at a larger size can outgrow the input several times over.
GROWTH: Final = 8


class ResizeOp:
    name = "resize"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        values = params.static_check(self.name, doc)
        preset = values["preset"]
        lines = None if preset is None else PRESET_LINES[preset]
        return {
            "width": values["width"],
            "height": values["height"],
            "preset_lines": lines,
            "upscale": bool(values["upscale"]),
        }

    def output_allowance(self, input_size: int) -> int:
        return GROWTH * input_size + 64 * MiB

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        assert ctx.info.video is not None
        p = ctx.params
        plan = resize_size(
            ctx.info.video,
            p["width"],
            p["height"],
            p["preset_lines"],
            upscale=bool(p.get("upscale", False)),
        )
        size = plan.size
        result, kept = await encode_video_result(
            ctx, resize_chain(size), f"resized to {size}", "Pick a smaller size."
        )
        report = {
            "width": size.width,
            "height": size.height,
            "codec": "h265" if kept.get("hdr") == "kept" else "h264",
            **({"note": plan.note} if plan.note else {}),
            **kept,
        }
        return OpOutcome(media_type=result.media_type, report=report)
