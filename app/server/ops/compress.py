"""`compress`: a smaller file that looks like the original, settings chosen per file (SPEC §4).

Plan from the probe (compress_plan), search the CRF that meets the quality target on
samples (quality_search), encode once, score the whole result, and keep it only if it
is clearly smaller than the input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import trio

from app.media.compress_argv import final_encode_argv
from app.media.compress_plan import (
    AudioAction,
    CompressPlan,
    codec_name,
    format_crf,
    plan_compress,
)
from app.media.crf_search import budget_factor, search_share_of_job
from app.media.ffmpeg_features import features_of
from app.media.probe import MediaInfo
from app.media.quality import Metric, QualityScore, from_linear
from app.media.quality_search import (
    ScratchFiles,
    SearchResult,
    can_score_while_encoding,
    encode_and_measure,
    measure_quality,
    search_crf,
)
from app.media.runner import Progress, run_ffmpeg
from app.protocol.ops.table import DEFAULT_TARGET_VMAF
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.params import static_check

# The result must be clearly smaller than the input, or the input is returned (SPEC §4).
KEEP_RATIO: Final = 0.95
# Skip the final encode when the samples predict a result this much larger than the
# input: it would have to come out 17% under the prediction to be kept.
SKIP_PREDICTED_RATIO: Final = 1.15
# A whole-file score is worth a second of overshoot on tiny clips, whose wall times are
# mostly FFmpeg start-up and scheduling.
MEASURE_SLACK_S: Final = 1.0


class CompressProgress:
    """One progress figure over the phases: the search takes its expected share first,
    then the final encode and its scoring split the rest by their estimated times."""

    def __init__(self, report: Callable[[Progress, str], None], search_share: float) -> None:
        self._report = report
        self._search_share = search_share
        self._encode_share = 1.0
        self._measure_s = 0.0
        self._encoded = 0.0

    def searching(self, fraction: float, eta_s: float | None) -> None:
        self._report(Progress(fraction * self._search_share, eta_s), "searching")

    def search_done(self, search: SearchResult, *, scored_while_encoding: bool) -> None:
        if scored_while_encoding:
            return  # one FFmpeg run does both: its progress is the rest of the job's
        total = search.final_encode_s + search.final_measure_s
        self._encode_share = search.final_encode_s / total if total > 0 else 0.85
        self._measure_s = search.final_measure_s

    def encoding(self, progress: Progress) -> None:
        # Scoring while encoding, FFmpeg's out_time follows the furthest output, which
        # can briefly be the metric's as the encoder finishes: never go back.
        self._encoded = max(self._encoded, progress.fraction)
        rest = 1 - self._search_share
        fraction = self._search_share + rest * self._encode_share * self._encoded
        eta = None if progress.eta_s is None else progress.eta_s + self._measure_s
        self._report(Progress(fraction, eta), "encoding")

    def measuring(self, fraction: float) -> None:
        start = self._search_share + (1 - self._search_share) * self._encode_share
        remaining = self._measure_s * (1 - fraction)
        self._report(Progress(start + (1 - start) * fraction, remaining), "measuring")


def predicted_total_bytes(plan: CompressPlan, info: MediaInfo, video_bytes: float) -> float:
    audio_bps = 0
    if plan.audio.action is AudioAction.ENCODE:
        audio_bps = plan.audio.bitrate or 0
    elif plan.audio.action is AudioAction.COPY and info.audio is not None:
        audio_bps = info.audio.bit_rate or 0
    return video_bytes + audio_bps * info.duration_s / 8


def quality_fields(
    plan: CompressPlan, value: float | None = None, measured_on: str | None = None
) -> dict[str, Any]:
    """The target, and the score reached in the metric's own units, saying where it was
    measured (the whole result file, or the samples of the search)."""
    metric = plan.target.metric
    fields: dict[str, Any] = {"metric": str(metric), "target_vmaf": plan.target.vmaf}
    if metric is Metric.SSIM:
        fields["target_ssim"] = plan.target.value
    if value is not None:
        fields[str(metric)] = round(value, 2 if metric is Metric.VMAF else 4)
        fields["quality_measured_on"] = measured_on
    return fields


def whole_file_fields(plan: CompressPlan, score: QualityScore) -> dict[str, Any]:
    every = "every frame" if score.subsample == 1 else f"1 frame in {score.subsample}"
    where = f"whole file ({every}: {score.frames} frames)"
    return quality_fields(plan, score.value, where)


def samples_fields(plan: CompressPlan, search: SearchResult) -> dict[str, Any]:
    value = from_linear(plan.target.metric, search.predicted_score)
    parts = len(search.windows) or 1
    tries = len(search.trials)
    where = (
        f"samples ({search.sample_s:.0f} s in {parts} part{'s' if parts > 1 else ''}, "
        f"from {tries} tr{'ies' if tries > 1 else 'y'})"
    )
    return quality_fields(plan, value, where)


def search_fields(plan: CompressPlan, search: SearchResult) -> dict[str, Any]:
    """The search's tries, scores in the metric's own units."""
    metric = plan.target.metric
    digits = 3 if metric is Metric.VMAF else 5
    return {
        "sample_s": round(search.sample_s, 2),
        "sample_windows": len(search.windows) or 1,
        "trials": [
            {
                "crf": t.crf,
                "score": round(from_linear(metric, t.score), digits),
                "sample_bytes": t.sample_bytes,
                "encode_s": round(t.encode_s, 2),
                "measure_s": round(t.measure_s, 2),
            }
            for t in search.trials
        ],
        "predicted_score": round(from_linear(metric, search.predicted_score), digits),
        # What the search expected the rest to cost when it stopped trying.
        "expected_s": {
            "encode": round(search.final_encode_s, 2),
            "measure": round(search.final_measure_s, 2),
        },
    }


async def measure_after(
    ctx: OpContext,
    plan: CompressPlan,
    search: SearchResult,
    scratch: ScratchFiles,
    progress: CompressProgress,
) -> QualityScore:
    """Score the result on the whole file, after the encode (decoding the source again)."""
    return await measure_quality(
        ctx.ffmpeg,
        ctx.output_path,
        ctx.input_path,
        (),
        plan.target.metric,
        scratch.log,
        subsample=search.final_subsample,
        duration_s=ctx.info.duration_s,
        on_progress=progress.measuring,
        expected_s=search.final_measure_s,
    )


class CompressOp:
    name = "compress"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        # Never larger than the input: anything bigger is discarded anyway.
        return input_size

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        started = time.monotonic()
        caps = await trio.to_thread.run_sync(features_of, ctx.ffmpeg)
        plan = plan_compress(
            ctx.info,
            str(ctx.params.get("codec", "h264")),
            float(ctx.params.get("target_vmaf", DEFAULT_TARGET_VMAF)),
            caps,
        )
        progress = CompressProgress(ctx.on_progress, search_share_of_job(ctx.info.duration_s))
        scratch = ScratchFiles.beside(ctx.output_path)
        fused = can_score_while_encoding(ctx.info, caps.loopback_decoder)
        try:
            search = await search_crf(
                ctx.ffmpeg,
                ctx.input_path,
                ctx.info,
                plan,
                scratch,
                progress.searching,
                score_while_encoding=fused,
            )
            progress.search_done(search, scored_while_encoding=fused)
            report: dict[str, Any] = {
                "codec": plan.video.codec,
                "encoder": plan.video.encoder,
                "preset": plan.video.preset,
                "crf": float(format_crf(search.crf)),
                "audio": plan.audio.describe(),
                "search": search_fields(plan, search),
            }
            input_size = ctx.info.size_bytes
            predicted = None
            if search.predicted_video_bytes is not None:
                predicted = predicted_total_bytes(plan, ctx.info, search.predicted_video_bytes)
                report["predicted_size"] = round(predicted)
            if predicted is not None and predicted >= SKIP_PREDICTED_RATIO * input_size:
                return self._already_compressed(ctx, plan, report, started, encoded=False)
            encode_started = time.monotonic()
            if fused:
                score: QualityScore | None = await encode_and_measure(
                    ctx.ffmpeg,
                    ctx.input_path,
                    ctx.info,
                    plan,
                    search.crf,
                    ctx.output_path,
                    ctx.output_limit_bytes,
                    scratch.log,
                    search.final_subsample,
                    progress.encoding,
                )
            else:
                await run_ffmpeg(
                    final_encode_argv(
                        ctx.ffmpeg,
                        ctx.input_path,
                        plan,
                        search.crf,
                        ctx.output_path,
                        ctx.output_limit_bytes,
                    ),
                    ctx.info.duration_s,
                    progress.encoding,
                )
            encode_s = time.monotonic() - encode_started
            if ctx.output_path.stat().st_size >= KEEP_RATIO * input_size:
                return self._already_compressed(ctx, plan, report, started, encoded=True)
            if not fused:
                budget_s = budget_factor(ctx.info.duration_s) * encode_s + MEASURE_SLACK_S
                fits = time.monotonic() - started + search.final_measure_s <= budget_s
                score = await measure_after(ctx, plan, search, scratch, progress) if fits else None
            if score is not None:
                report.update(whole_file_fields(plan, score))
            else:
                report.update(samples_fields(plan, search))
        finally:
            scratch.remove()
        report["time_s"] = {
            "search": round(search.elapsed_s, 2),
            "encode": round(encode_s, 2),
            "total": round(time.monotonic() - started, 2),
        }
        return OpOutcome(media_type=plan.media_type, report={"outcome": "compressed", **report})

    def _already_compressed(
        self,
        ctx: OpContext,
        plan: CompressPlan,
        report: dict[str, Any],
        started: float,
        *,
        encoded: bool,
    ) -> OpOutcome:
        how = "came out" if encoded else "would come out (predicted from samples)"
        note = (
            f"The input is already well compressed: at VMAF {plan.target.vmaf:g} a "
            f"{plan.video.codec} encode {how} not clearly smaller, so the original is "
            "returned unchanged."
        )
        source_codec = codec_name(ctx.info.video.codec) if ctx.info.video else None
        return OpOutcome(
            media_type=ctx.input_media_type,
            reuse_input=True,
            report={
                "outcome": "already_compressed",
                "note": note,
                "codec": source_codec,
                # What the search tried, kept apart so nobody reads it as the result's.
                "tried": {key: report.pop(key) for key in ("codec", "encoder", "preset", "crf")},
                **report,
                **quality_fields(plan),
                "time_s": {"total": round(time.monotonic() - started, 2)},
            },
        )
