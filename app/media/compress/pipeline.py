"""A compress job from start to end (docs/compression.md): plan, search, encode, measure, decide.

Plan from the probe (plan.py), search the CRF that meets the quality target on
samples (search.py), encode once (encode.py), score the whole result (scoring.py),
and keep it only if it is clearly smaller than the input; report.py says what happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trio

from app.media.capabilities import features_of
from app.media.compress.encode import ScoreAlong, can_score_while_encoding, encode_final
from app.media.compress.metric import QualityScore
from app.media.compress.plan import CompressPlan, codec_name, plan_compress
from app.media.compress.progress import CompressProgress, PhaseReport
from app.media.compress.report import (
    already_compressed_note,
    predicted_total_bytes,
    quality_fields,
    samples_fields,
    search_fields,
    settings_fields,
    whole_file_fields,
)
from app.media.compress.scoring import measure_quality
from app.media.compress.search import ScratchFiles, SearchResult, search_crf
from app.media.compress.search_policy import budget_factor, search_share_of_job
from app.media.fidelity_report import fidelity_report
from app.media.limits import DEFAULT_LIMITS, MediaLimits, check_decoded_frames
from app.media.media_info import MediaInfo

# The result must be clearly smaller than the input, or the input is returned (docs/compression.md).
KEEP_RATIO: Final = 0.95
# Skip the final encode when the samples predict a result this much larger than the
# input: it would have to come out 17% under the prediction to be kept.
SKIP_PREDICTED_RATIO: Final = 1.15
# A whole-file score is worth a second of overshoot on tiny clips, whose wall times are
# mostly FFmpeg start-up and scheduling.
MEASURE_SLACK_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class CompressRequest:
    """One input to compress, and where the result goes (at most `limit_bytes`)."""

    ffmpeg: str
    src: Path
    info: MediaInfo
    codec: str | None  # None: chosen from the input (h264; h265 for HDR)
    target_vmaf: float
    output: Path
    limit_bytes: int
    limits: MediaLimits = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class CompressOutcome:
    """`output` holds the result, of `media_type`; or (None) the input is the answer."""

    media_type: str | None
    report: dict[str, Any] = field(default_factory=dict)


async def compress_file(request: CompressRequest, on_progress: PhaseReport) -> CompressOutcome:
    started = time.monotonic()
    info = request.info
    check_decoded_frames(info, info.duration_s, request.limits)
    caps = await trio.to_thread.run_sync(features_of, request.ffmpeg)
    plan = plan_compress(info, request.codec, request.target_vmaf, caps)
    progress = CompressProgress(on_progress, search_share_of_job(info.duration_s))
    scratch = ScratchFiles.beside(request.output)
    fused = can_score_while_encoding(info, caps.loopback_decoder, plan.picture.bytes_per_sample)
    try:
        search = await search_crf(
            request.ffmpeg,
            request.src,
            info,
            plan,
            scratch,
            progress.searching,
            score_while_encoding=fused,
            limits=request.limits,
        )
        progress.search_done(search, scored_while_encoding=fused)
        report: dict[str, Any] = {
            **settings_fields(plan, search),
            "audio": plan.audio.describe(),
            "search": search_fields(plan, search),
            **fidelity_report(info, plan.result, plan.streams, plan.treatment),
        }
        predicted = None
        if search.predicted_video_bytes is not None:
            predicted = predicted_total_bytes(plan, info, search.predicted_video_bytes)
            report["predicted_size"] = round(predicted)
        if predicted is not None and predicted >= SKIP_PREDICTED_RATIO * info.size_bytes:
            return already_compressed(info, plan, report, started, encoded=False)
        encode_started = time.monotonic()
        score = await encode_final(
            request.ffmpeg,
            request.src,
            info,
            plan,
            search.crf,
            request.output,
            request.limit_bytes,
            progress.encoding,
            request.limits.for_ffmpeg(info, request.limit_bytes),
            ScoreAlong(scratch.log, search.final_subsample) if fused else None,
        )
        encode_s = time.monotonic() - encode_started
        if request.output.stat().st_size >= KEEP_RATIO * info.size_bytes:
            return already_compressed(info, plan, report, started, encoded=True)
        if not fused:
            budget_s = budget_factor(info.duration_s) * encode_s + MEASURE_SLACK_S
            if time.monotonic() - started + search.final_measure_s <= budget_s:
                score = await _measure_after(request, plan, search, scratch, progress)
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
    return CompressOutcome(
        media_type=plan.media_type,
        report={"outcome": "compressed", **report},
    )


async def _measure_after(
    request: CompressRequest,
    plan: CompressPlan,
    search: SearchResult,
    scratch: ScratchFiles,
    progress: CompressProgress,
) -> QualityScore:
    """Score the result on the whole file, after the encode (decoding the source again)."""
    return await measure_quality(
        request.ffmpeg,
        request.output,
        request.src,
        (),
        plan.target.metric,
        scratch.log,
        subsample=search.final_subsample,
        duration_s=request.info.duration_s,
        limits=request.limits.for_ffmpeg(request.info, request.limit_bytes),
        distorted_format=plan.result.muxer,
        on_progress=progress.measuring,
        expected_s=search.final_measure_s,
        picture=plan.picture,
    )


def already_compressed(
    info: MediaInfo,
    plan: CompressPlan,
    report: dict[str, Any],
    started: float,
    *,
    encoded: bool,
) -> CompressOutcome:
    """The input is the answer; what the search tried is kept apart so nobody reads it
    as the result's."""
    tried = {key: report.pop(key) for key in ("codec", "encoder", "preset", "crf")}
    return CompressOutcome(
        media_type=None,
        report={
            "outcome": "already_compressed",
            "note": already_compressed_note(plan, encoded=encoded),
            "codec": codec_name(info.video.codec) if info.video else None,
            "tried": tried,
            **report,
            **quality_fields(plan),
            "time_s": {"total": round(time.monotonic() - started, 2)},
        },
    )
