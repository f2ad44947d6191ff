"""`webm`: a time range as VP9 + Opus WEBM (SPEC §2.1)."""

from __future__ import annotations

from typing import Any, Final

from app.media.argv import OutputSpec, webm_argv
from app.media.containers import OPUS, VP9, WEBM_RULE
from app.media.fidelity_report import fidelity_report
from app.media.geometry import clip_size
from app.media.stream_plan import Fate, StreamDecision, plan_output_streams
from app.media.video_treatment import treat_video
from app.protocol.ops.table import WEBM_DEFAULT_MAX_WIDTH_PX
from app.server.ops import params
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.encoding import MiB, encode

# At most 60 s of VP9 (CRF 32): tens of MB even at 4K.
MAX_WEBM_BYTES: Final = 512 * MiB


class WebmOp:
    name = "webm"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return params.static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        return MAX_WEBM_BYTES

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        video = ctx.info.video
        assert video is not None
        span = params.resolve_span(ctx.params, ctx.info)
        size = clip_size(video, ctx.params["width"], WEBM_DEFAULT_MAX_WIDTH_PX, even_sides=True)
        # Tone-mapped to SDR unless asked (VP9 profile 2 keeps HDR; not every browser
        # shows it right).
        treatment = treat_video(video.colour, VP9, keep_hdr=bool(ctx.params.get("keep_hdr")))
        plan = plan_output_streams(
            ctx.info,
            WEBM_RULE,
            "webm",
            lambda stream: StreamDecision(stream, Fate.ENCODED, treatment.encoder, "clip"),
            lambda stream: StreamDecision(stream, Fate.ENCODED, OPUS, "clip"),
        )
        argv = webm_argv(
            ctx.ffmpeg,
            ctx.input_path,
            OutputSpec(ctx.output_path, "webm"),
            plan,
            WEBM_RULE,
            treatment,
            span,
            size,
        )
        await encode(ctx, argv, span.length_s, "Pick a shorter span or a smaller width.")
        report = params.span_report(ctx.params, span)
        report.update(
            width=size.width,
            height=size.height,
            codecs=["vp9", "opus"] if ctx.info.audio else ["vp9"],
            **fidelity_report(ctx.info, None, plan, treatment),
        )
        return OpOutcome(media_type="webm", report=report)
