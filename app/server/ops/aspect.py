"""`aspect`: a new display aspect ratio by padding, cropping or stretching (SPEC §2.1)."""

from __future__ import annotations

from typing import Any

from app.media.argv import aspect_chain
from app.media.geometry import AspectMode, aspect_plan
from app.protocol.ops import ratio_fraction
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB
from app.server.ops.resize import GROWTH
from app.server.ops.video_output import encode_video_result


class AspectOp:
    name = "aspect"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return params.static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        return GROWTH * input_size + 64 * MiB

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        assert ctx.info.video is not None
        ratio = ratio_fraction(ctx.params["ratio"])
        plan = aspect_plan(ctx.info.video, ratio, AspectMode(ctx.params["mode"]))
        result, kept = await encode_video_result(
            ctx,
            aspect_chain(plan),
            f"{plan.mode} to {ctx.params['ratio']}",
            "Use mode crop, which makes a smaller frame.",
        )
        return OpOutcome(
            media_type=result.media_type,
            report={
                "ratio": ctx.params["ratio"],
                "mode": ctx.params["mode"],
                "width": plan.out.width,
                "height": plan.out.height,
                "codec": "h265" if kept.get("hdr") == "kept" else "h264",
                **kept,
            },
        )
