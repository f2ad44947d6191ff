"""The compress job's report: sizes predicted, the search's tries, the quality reached.

Scores are given in the metric's own units (VMAF points or SSIM), saying where they
were measured: on the whole result file, or only on the samples of the search.
"""

from __future__ import annotations

from typing import Any

from app.media.compress.metric import Metric, QualityScore, from_linear
from app.media.compress.plan import AudioAction, CompressPlan, format_crf
from app.media.compress.search import SearchResult
from app.media.probe import MediaInfo


def predicted_total_bytes(plan: CompressPlan, info: MediaInfo, video_bytes: float) -> float:
    """The result's size from the search's prediction of its video, plus its audio."""
    audio_bps = plan.audio_bps
    if not plan.streams.decisions:  # a plan made without the stream list: the main track
        if plan.audio.action is AudioAction.ENCODE:
            audio_bps = plan.audio.bitrate or 0
        elif plan.audio.action is AudioAction.COPY and info.audio is not None:
            audio_bps = info.audio.bit_rate or 0
    return video_bytes + audio_bps * info.duration_s / 8


def settings_fields(plan: CompressPlan, search: SearchResult) -> dict[str, Any]:
    """What the encode used (or, when the input is returned, what it tried)."""
    return {
        "codec": plan.video.codec,
        "encoder": plan.video.encoder,
        "preset": plan.video.preset,
        "crf": float(format_crf(search.crf)),
    }


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


def already_compressed_note(plan: CompressPlan, *, encoded: bool) -> str:
    how = "came out" if encoded else "would come out (predicted from samples)"
    return (
        f"The input is already well compressed: at VMAF {plan.target.vmaf:g} a "
        f"{plan.video.codec} encode {how} not clearly smaller, so the original is "
        "returned unchanged."
    )
