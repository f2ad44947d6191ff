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
from app.media.containers import ContainerRule, rule_for
from app.media.ffmpeg_exe import find_ffmpeg
from app.media.fidelity_report import fidelity_report
from app.media.probe import MediaInfo
from app.media.stream_info import StreamInfo
from app.media.stream_plan import (
    Fate,
    StreamDecision,
    StreamPlan,
    copy_or_encode,
    plan_output_streams,
)
from app.media.video_treatment import VideoTreatment, treat_video
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
# Muxers that write Dolby Vision's configuration box only when told "unofficial" is fine.
DOLBY_VISION_UNOFFICIAL: Final = frozenset({"mp4", "mov", "ipod", "3gp"})
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
        plan, treatment = plan_convert(ctx.info, rule, name)
        if not plan.kept:
            raise bad_params(
                f"The format {name} holds none of this file's streams "
                f"({ctx.info.video_streams} video, {ctx.info.audio_streams} audio).",
                f"Pick a video container such as {', '.join(COMMON)}.",
            )
        # The result's media type is the name asked for, else the muxer's file extension.
        candidates = [name] if name != muxer else []
        candidates += [*details.extensions, name]
        media_type = next((c for c in candidates if is_valid_media_type(c)), "bin")
        video = plan.video()
        dolby_copied = (
            video is not None
            and video.fate is Fate.COPIED
            and ctx.info.video is not None
            and ctx.info.video.colour.dolby_vision is not None
        )
        argv = convert_argv(
            ctx.ffmpeg,
            ctx.input_path,
            OutputSpec(ctx.output_path, muxer),
            plan,
            rule,
            treatment,
            unofficial=dolby_copied and muxer in DOLBY_VISION_UNOFFICIAL,
        )
        await encode(ctx, argv, ctx.info.duration_s, TOO_LARGE_HINT)
        return OpOutcome(
            media_type=media_type,
            report={
                "format": muxer,
                **fidelity_report(ctx.info, None, plan, treatment),
                "dropped_streams": len(plan.dropped()),
            },
        )


def plan_convert(
    info: MediaInfo, rule: ContainerRule, container: str
) -> tuple[StreamPlan, VideoTreatment | None]:
    """Copy what the container holds as it is (a copied video keeps its rotation tag,
    where the container has one); encode the rest. The treatment is the encoded video's
    (None when the video is copied or left out)."""
    treatments: list[VideoTreatment] = []
    turned = info.video is not None and not info.video.orientation.is_upright

    def video(stream: StreamInfo) -> StreamDecision:
        holds = rule.video_copy is None or stream.codec in rule.video_copy
        if holds and (rule.rotation_tag or not turned):
            return StreamDecision(stream, Fate.COPIED)
        assert info.video is not None and rule.video_encoder is not None
        treatments.append(treat_video(info.video.colour, rule.video_encoder))
        why = (
            f"{container} cannot store the rotation tag: turned upright"
            if holds
            else f"{container} does not hold {stream.codec}"
        )
        return StreamDecision(stream, Fate.ENCODED, treatments[0].encoder, why)

    has_video = rule.video_encoder is not None
    plan = plan_output_streams(
        info,
        rule,
        container,
        video if has_video else None,
        copy_or_encode(rule.audio_copy, rule.audio_encoder, container),
        dropped_reason="" if has_video else f"{container} holds no video",
    )
    return plan, treatments[0] if treatments else None
