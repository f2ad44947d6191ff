"""Each chunk's rate points: a few CRFs tried on the chunk (or the middle of a long one),
their bytes scaled to the whole chunk, their quality scored as the one-piece search
scores its samples (the same argv: what a viewer sees, upright, tone-mapped as kept).

These points are the chunk's curve for allocation.py. The pipeline records each in the
job's manifest as soon as it is measured (by the trial's key), so a resumed job does not
measure it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from app.media.compress.allocation import RatePoint
from app.media.compress.argv import TRIAL_MUXER, sample_encode_argv
from app.media.compress.chunk_frames import FrameRun, frame_run
from app.media.compress.metric import from_linear
from app.media.compress.plan import CompressPlan
from app.media.compress.scenes import SceneScan
from app.media.compress.scoring import measure_quality
from app.media.compress.search import MOST_SUBSAMPLE_TRIAL, TRIAL_SCORED_FRAMES
from app.media.compress.search_policy import subsample_for
from app.media.limits import RunLimits
from app.media.runner import Box, run_ffmpeg

# CRFs tried per chunk, around the plan's first guess, in x264's VMAF-per-CRF units
# (scaled for the encoder): wide enough to bracket a still scene and a noisy one.
TRIAL_CRF_SPREAD: Final = (-6.0, 0.0, 6.0)
_SPREAD_VMAF_PER_CRF: Final = 0.9
# A chunk still this far over the target at its highest CRF tried gets one more try,
# BRACKET_STEP (x264-equivalent) CRFs further (and one below when under the floor).
BRACKET_MARGIN_VMAF: Final = 1.0
BRACKET_STEP: Final = 8.0
# A chunk up to this long is tried whole; a longer one on its middle, this share of it
# (at least TRIAL_MIN_S): a scene is one kind of picture, its middle stands for it.
TRIAL_WHOLE_UP_TO_S: Final = 4.0
TRIAL_SHARE: Final = 0.25
TRIAL_MIN_S: Final = 3.0


def trial_crfs(plan: CompressPlan) -> tuple[float, ...]:
    video = plan.video
    scale = _SPREAD_VMAF_PER_CRF / video.vmaf_per_crf
    crfs = []
    for offset in TRIAL_CRF_SPREAD:
        crf = plan.first_crf + round(offset * scale / video.crf_step) * video.crf_step
        crfs.append(round(min(video.crf_max, max(video.crf_min, crf)), 1))
    return tuple(sorted(set(crfs)))


def bracketing_crfs(
    points: Sequence[RatePoint], plan: CompressPlan, floor_gap: float
) -> tuple[float, ...]:
    """One more CRF for a chunk whose tries do not reach the target from both sides:
    still well above it at the highest CRF tried (a still scene: allocation cannot make
    it cheaper without a point there), or under the floor at the lowest."""
    if not points:
        return ()
    video, target = plan.video, plan.target.vmaf
    low, high = min(points, key=lambda p: p.crf), max(points, key=lambda p: p.crf)
    steps = round(BRACKET_STEP * _SPREAD_VMAF_PER_CRF / video.vmaf_per_crf / video.crf_step)
    step = steps * video.crf_step
    extra = []
    if high.vmaf > target + BRACKET_MARGIN_VMAF and high.crf < video.crf_max:
        extra.append(round(min(video.crf_max, high.crf + step), 1))
    if low.vmaf < target - floor_gap and low.crf > video.crf_min:
        extra.append(round(max(video.crf_min, low.crf - step), 1))
    return tuple(extra)


def trial_frames(scan: SceneScan, run: FrameRun, end_s: float) -> FrameRun:
    """The frames of a chunk its trials encode: all, or its middle."""
    if run.duration_s <= TRIAL_WHOLE_UP_TO_S:
        return run
    share = max(TRIAL_MIN_S, TRIAL_SHARE * run.duration_s) / run.duration_s
    count = max(1, min(run.count, round(run.count * share)))
    first = run.first + (run.count - count) // 2
    return frame_run(scan, first, count, end_s)


@dataclass(frozen=True, slots=True)
class TrialJob:
    """One chunk at one CRF: the frames tried and where the scratch files go."""

    chunk_index: int
    chunk_frames: int
    frames: FrameRun
    crf: float
    src: Path
    scratch: Path  # a directory for this job's trial files

    def to_json(self) -> dict[str, Any]:
        """What a node elsewhere needs (it has its own copy of the source, and scratch)."""
        return {
            "chunk_index": self.chunk_index,
            "chunk_frames": self.chunk_frames,
            "frames": asdict(self.frames),
            "crf": self.crf,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], src: Path, scratch: Path) -> TrialJob:
        frames = FrameRun(**doc["frames"])
        return cls(
            int(doc["chunk_index"]), int(doc["chunk_frames"]), frames, doc["crf"], src, scratch
        )

    def key(self, plan: CompressPlan) -> str:
        window = self.frames.window
        # Not the source's path: one job's input, wherever this node keeps it.
        doc = {
            "window": [round(window.start_s, 6), round(window.duration_s, 6)],
            "frames": [self.frames.first, self.frames.count, self.chunk_frames],
            "codec": plan.video.video_args(self.crf, for_mp4=False, treatment=plan.treatment),
            "picture": [plan.picture.index, plan.picture.prepare, plan.picture.to_metric],
            "metric": str(plan.target.metric),
        }
        text = json.dumps(doc, sort_keys=True)
        return "trial-" + hashlib.sha256(text.encode()).hexdigest()[:24]


async def measure_trial(
    ffmpeg: str, job: TrialJob, plan: CompressPlan, limits: RunLimits, threads: int
) -> RatePoint:
    """Encode the trial's frames at its CRF and score them: the chunk's rate point."""
    window = job.frames.window
    stem = f"{job.chunk_index:05d}-{job.crf:g}"
    encoded = job.scratch / f".trial-{stem}.mkv.part"
    log = job.scratch / f".trial-{stem}.log.part"
    try:
        argv = sample_encode_argv(
            ffmpeg, job.src, [window], plan.video, job.crf, encoded, plan.picture, plan.treatment
        )
        argv = [*argv[:-3], "-threads", str(threads), *argv[-3:]]
        box = Box((job.src,), (encoded,), limits)
        await run_ffmpeg(argv, window.duration_s, box=box)
        sample_bytes = encoded.stat().st_size
        score = await measure_quality(
            ffmpeg,
            encoded,
            job.src,
            [window],
            plan.target.metric,
            log,
            subsample=subsample_for(job.frames.count, TRIAL_SCORED_FRAMES, MOST_SUBSAMPLE_TRIAL),
            duration_s=window.duration_s,
            limits=limits,
            distorted_format=TRIAL_MUXER,
            picture=plan.picture,
        )
    finally:
        encoded.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
    vmaf = vmaf_scale(plan, score.linear)
    return RatePoint(job.crf, sample_bytes * job.chunk_frames / job.frames.count, vmaf)


def vmaf_scale(plan: CompressPlan, linear: float) -> float:
    """A score on allocation's scale: VMAF, or SSIM mapped to the VMAF it stands for.

    The SSIM fallback's target maps to VMAF linearly in dB (metric.py); allocation only
    compares points against the target, so the same map keeps it right."""
    target = plan.target
    if target.metric.value == "vmaf":
        return from_linear(target.metric, linear)
    return target.vmaf + (linear - target.linear) / target.linear_per_vmaf()


def curves_by_chunk(
    points: Sequence[tuple[int, RatePoint]], chunk_count: int
) -> list[list[RatePoint]]:
    by_chunk: list[list[RatePoint]] = [[] for _ in range(chunk_count)]
    for index, point in points:
        by_chunk[index].append(point)
    return by_chunk
