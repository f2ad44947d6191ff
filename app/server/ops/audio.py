"""`audio`: the first audio track as MP3 (SPEC §2.1)."""

from __future__ import annotations

from typing import Any

from app.media.argv import OutputSpec, mp3_argv
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_audio
from app.server.ops.encoding import MiB, encode


class AudioOp:
    name = "audio"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"bitrate_kbps": params.static_check(self.name, doc)["bitrate"]}

    def output_allowance(self, input_size: int) -> int:
        # MP3 at ≤ 320 kbit/s is smaller than almost any video it comes from; the margin
        # covers a low-bit-rate video with a rich sound track.
        return 2 * input_size + 16 * MiB

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_audio(ctx.info)
        bitrate = ctx.params["bitrate_kbps"]
        argv = mp3_argv(
            ctx.ffmpeg, ctx.input_path, OutputSpec(ctx.output_path, "mp3"), ctx.info, bitrate
        )
        await encode(ctx, argv, ctx.info.duration_s, "Pick a lower bitrate.")
        return OpOutcome(
            media_type="mp3",
            report={"codec": "mp3", "bitrate": f"{bitrate}k" if bitrate else "vbr"},
        )
