"""`resize`: a new frame size, by width and/or height or a preset (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import resize_chain
from app.media.geometry import resize_size
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, bad_params, require_video
from app.server.ops.encoding import MiB
from app.server.ops.video_output import encode_video_result

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
        upscale = params.flag(doc, "upscale")
        return {"width": width, "height": height, "preset_lines": lines, "upscale": upscale}

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
