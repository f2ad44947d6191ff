"""`audio`: the first audio track as MP3 (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, mp3_argv
from app.media.containers import MP3, ContainerRule
from app.media.stream_info import StreamInfo
from app.media.stream_plan import Fate, StreamDecision, plan_output_streams
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
        track = main_audio(ctx.info.streams)
        argv = mp3_argv(
            ctx.ffmpeg,
            ctx.input_path,
            OutputSpec(ctx.output_path, "mp3"),
            track.index,
            track.channels,
            bitrate,
        )
        await encode(ctx, argv, ctx.info.duration_s, "Pick a lower bitrate.")

        def sound(stream: StreamInfo) -> StreamDecision:
            if stream.index == track.index:
                return StreamDecision(stream, Fate.ENCODED, MP3)
            return StreamDecision(stream, Fate.DROPPED, reason=ONE_TRACK)

        plan = plan_output_streams(
            ctx.info, MP3_RULE, "mp3", None, sound, subtitles=False, dropped_reason=SOUND_ONLY
        )
        return OpOutcome(
            media_type="mp3",
            report={
                "codec": "mp3",
                "bitrate": f"{bitrate}k" if bitrate else "vbr",
                "chapters": ctx.info.chapters,
                "streams": plan.report(),
            },
        )


SOUND_ONLY: Final = "an MP3 holds only sound"
ONE_TRACK: Final = "an MP3 holds one sound track: the default one is used"
MP3_RULE: Final = ContainerRule(frozenset(), frozenset(), None, MP3)


def main_audio(streams: tuple[StreamInfo, ...]) -> StreamInfo:
    """The track a player plays first: the default-flagged one, else the first."""
    tracks = [s for s in streams if s.kind == "audio"]
    return next((s for s in tracks if s.is_default), tracks[0])
