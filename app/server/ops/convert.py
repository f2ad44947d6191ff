"""`convert`: the same media in another container, re-encoding only what it cannot hold.

The formats are the file muxers of the server's FFmpeg (SPEC §2.1: "any muxer this FFmpeg
has"), asked once at start-up; friendly names (mkv, ts, ...) map to muxer names.
"""

from __future__ import annotations

import difflib
from typing import Any, Final

import trio

from app.media.argv import OutputSpec, convert_argv
from app.media.capabilities import muxer_details_of, muxers_of
from app.media.containers import plan_streams, rule_for
from app.media.ffmpeg_exe import find_ffmpeg
from app.protocol.media_type import is_valid_media_type
from app.server.ops.base import OpContext, OpOutcome, bad_params
from app.server.ops.encoding import MiB, encode
from app.server.ops.params import static_check

# What users type → FFmpeg's muxer name (names FFmpeg already knows need no entry).
FRIENDLY_NAMES: Final = {
    "mkv": "matroska",
    "ts": "mpegts",
    "m2ts": "mpegts",
    "mpg": "mpeg",
    "wmv": "asf",
    "m4v": "ipod",
}
# Animated images have their own op with caps on span and size.
IMAGE_MUXERS: Final = frozenset({"gif", "apng", "webp", "image2pipe"})
COMMON: Final = ("mp4", "mkv", "mov", "webm", "avi")
# A codec change can grow a stream several times (e.g. AV1 to MPEG-4 in AVI).
GROWTH: Final = 4
TOO_LARGE_HINT: Final = (
    "Pick a container that holds the streams as they are (mkv holds nearly every codec): "
    "copied streams do not grow."
)


class ConvertOp:
    name = "convert"

    def __init__(self) -> None:
        self.ffmpeg: str | None = None

    def prepare(self, ffmpeg: str) -> None:
        """Use this FFmpeg's muxers (the server calls this at start-up)."""
        self.ffmpeg = ffmpeg
        muxers_of(ffmpeg)

    def _muxers(self) -> frozenset[str]:
        if self.ffmpeg is None:
            self.prepare(find_ffmpeg())
        assert self.ffmpeg is not None
        return muxers_of(self.ffmpeg)

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        # The table checks the name's shape; which muxers exist is this FFmpeg's to say.
        name = static_check(self.name, doc)["format"]
        muxer = FRIENDLY_NAMES.get(name, name)
        if muxer in IMAGE_MUXERS:
            raise bad_params(
                f"{name} is an animated image format, made by its own op.",
                'Use the "gif" op (with start and end) for animated images.',
            )
        known = self._muxers()
        if muxer not in known:
            close = difflib.get_close_matches(name, sorted(known | FRIENDLY_NAMES.keys()), 3)
            raise bad_params(
                f"The server's FFmpeg cannot write the format {name!r}.",
                f"Pick one of {len(known)} formats it has, e.g. {', '.join(close or COMMON)}.",
            )
        return {"format": name, "muxer": muxer}

    def output_allowance(self, input_size: int) -> int:
        return GROWTH * input_size + 64 * MiB

    async def run(self, ctx: OpContext) -> OpOutcome:
        name, muxer = ctx.params["format"], ctx.params["muxer"]
        details = await trio.to_thread.run_sync(muxer_details_of, ctx.ffmpeg, muxer)
        rule = rule_for(details)
        plans = plan_streams(rule, ctx.info)
        if not plans:
            raise bad_params(
                f"The format {name} holds none of this file's streams "
                f"({ctx.info.video_streams} video, {ctx.info.audio_streams} audio).",
                f"Pick a video container such as {', '.join(COMMON)}.",
            )
        # The result's media type is the name asked for, else the muxer's file extension.
        candidates = [name] if name != muxer else []
        candidates += [*details.extensions, name]
        media_type = next((c for c in candidates if is_valid_media_type(c)), "bin")
        argv = convert_argv(
            ctx.ffmpeg, ctx.input_path, OutputSpec(ctx.output_path, muxer), plans, rule
        )
        await encode(ctx, argv, ctx.info.duration_s, TOO_LARGE_HINT)
        return OpOutcome(
            media_type=media_type,
            report={
                "format": muxer,
                "streams": [
                    {
                        "kind": "video" if plan.kind == "v" else "audio",
                        "codec": plan.codec,
                        "action": "copied" if plan.encoder is None else "encoded",
                        **({"encoder": plan.encoder.name} if plan.encoder else {}),
                    }
                    for plan in plans
                ],
                "dropped_streams": ctx.info.subtitle_streams
                + ctx.info.audio_streams
                + ctx.info.video_streams
                - len(plans),
            },
        )
