"""`gif`: a time range as an animated GIF with its own palette (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, gif_argv, gif_palette_argv
from app.media.colour_args import tonemap_to_sdr
from app.media.containers import ContainerRule, Encoder
from app.media.geometry import clip_size
from app.media.limits import check_decoded_frames
from app.media.runner import Progress, run_ffmpeg
from app.media.stream_plan import Fate, StreamDecision, plan_output_streams
from app.media.video_treatment import dolby_vision_profile_5
from app.protocol.ops.table import GIF_DEFAULT_WIDTH_PX
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB, encode

# GIF is lossless per frame: 60 s at 30 fps and 1280 px can pass 100 MB. Bigger is refused.
MAX_GIF_BYTES: Final = 256 * MiB
# The palette pass decodes the span as the GIF pass does, but scales fewer frames and
# encodes none: its share of the progress bar.
PALETTE_SHARE: Final = 0.3
GIF_HOLDS: Final = "a GIF holds only pictures"
GIF_ENCODER: Final = Encoder("gif")
GIF_RULE: Final = ContainerRule(None, None, GIF_ENCODER, None)


class GifOp:
    name = "gif"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return params.static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        return MAX_GIF_BYTES

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        video = ctx.info.video
        assert video is not None
        if video.colour.dolby_vision_without_base_layer:
            raise dolby_vision_profile_5(video.colour)
        span = params.resolve_span(ctx.params, ctx.info)
        size = clip_size(video, ctx.params["width"], GIF_DEFAULT_WIDTH_PX, even_sides=False)
        fps = float(ctx.params["fps"])
        check_decoded_frames(ctx.info, span.length_s, ctx.limits)
        # GIF is 8-bit SDR: HDR is always tone-mapped (SPEC §3.1), in both passes.
        tonemap = tonemap_to_sdr(video.colour)
        # A scratch file beside the result, swept at start-up like any `.part`.
        palette = ctx.output_path.with_name(
            ctx.output_path.name.removesuffix(".part") + "-palette.part"
        )
        try:
            await run_ffmpeg(
                gif_palette_argv(
                    ctx.ffmpeg,
                    ctx.input_path,
                    palette,
                    span,
                    size,
                    fps,
                    video_index=video.index,
                    tonemap=tonemap,
                ),
                span.length_s,
                lambda p: ctx.on_progress(Progress(p.fraction * PALETTE_SHARE, None), "palette"),
                box=ctx.box(writes=(palette,)),
            )

            def on_gif(p: Progress) -> None:
                fraction = PALETTE_SHARE + (1 - PALETTE_SHARE) * p.fraction
                ctx.on_progress(Progress(fraction, p.eta_s), "encoding")

            argv = gif_argv(
                ctx.ffmpeg,
                ctx.input_path,
                palette,
                OutputSpec(ctx.output_path, "gif"),
                span,
                size,
                fps,
                video_index=video.index,
                tonemap=tonemap,
            )
            hint = "Pick a shorter span, a smaller width or fewer fps."
            await encode(
                ctx, argv, span.length_s, hint, box=ctx.box(reads=(palette,)), on_progress=on_gif
            )
        finally:
            palette.unlink(missing_ok=True)
        streams = plan_output_streams(
            ctx.info,
            GIF_RULE,
            "gif",
            lambda stream: StreamDecision(stream, Fate.ENCODED, GIF_ENCODER),
            None,
            subtitles=False,
            dropped_reason=GIF_HOLDS,
        )
        report = params.span_report(ctx.params, span)
        report.update(fps=fps, width=size.width, height=size.height)
        if tonemap:
            report["hdr"] = "tone-mapped"
            kind = video.colour.describe()
            report["hdr_note"] = f"{kind} tone-mapped to SDR BT.709 (GIF is SDR)."
        report["streams"] = streams.report()
        return OpOutcome(media_type="gif", report=report)
