"""Running the CRF search with FFmpeg: encode the samples, score them, decide, repeat.

The decisions are search_policy.py's (pure); this module runs the processes, times them
and keeps the search inside its time budget.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.media.compress.argv import (
    RAW_SAMPLES_MUXER,
    TRIAL_MUXER,
    sample_encode_argv,
    samples_raw_argv,
)
from app.media.compress.plan import CompressPlan
from app.media.compress.scoring import measure_quality
from app.media.compress.search_policy import (
    SampleWindow,
    SearchSpace,
    TimeBudget,
    Trial,
    align_to_keyframes,
    budget_factor,
    choose_crf,
    next_crf,
    pick_sample_windows,
    predicted_video_bytes,
    sample_seconds,
    score_at,
    subsample_for,
)
from app.media.limits import MediaLimits
from app.media.media_info import MediaInfo
from app.media.runner import Box, Progress, run_ffmpeg
from app.media.upload_probe import keyframes_near

# Frames to score at least: on the samples of each try, and on the final file. Scoring
# 1 frame in 5 or 13 moved the mean by ≤ 0.1 VMAF on the real clips (Megamind, vtest);
# every frame of an 8 s clip cost 70 % of its plain encode.
TRIAL_SCORED_FRAMES: Final = 40
FINAL_SCORED_FRAMES: Final = 40
MOST_SUBSAMPLE_TRIAL: Final = 5
MOST_SUBSAMPLE_FINAL: Final = 13
# The search stops when a try lands this close above the target (VMAF points; the SSIM
# fallback scales it), or when the target is bracketed within this many CRF steps.
TOLERANCE_VMAF: Final = 0.4
RESOLUTION_CRF: Final = 1.0
# The final measurement, from a try's scoring time: the metric's share scales with the
# frames scored; decoding does not shrink with subsampling. Its share, of the cost of
# scoring every frame of the tries: scored while encoding, only the result is decoded,
# alongside the encoder (vtest.avi: 0.8 s over a 7.9 s plain encode, 62 frames scored;
# the grainy 360p clip 1.4 s over 14.9 s). Scored after the encode, the source is
# decoded again: ≈0.2 on vtest.avi (a light source), ≈0.8 on a 20 Mb/s grainy H.264
# whose decoding costs 60 % of a plain encode. Estimates only: they decide whether one
# more try fits, and a separate final score is skipped if the encode leaves no room.
FIXED_SCORING_SHARE: Final = 0.1
FIXED_SCORING_SHARE_SEPARATE: Final = 0.8
# Starting the metric (libvmaf loads its model): what scoring while encoding added to a
# 0.6 s plain encode of tree.avi, 7 frames scored. Not scaled with the file.
SCORER_START_S: Final = 0.15
# Tries usually needed; only sets how much of the progress bar the search takes.
EXPECTED_TRIALS: Final = 3

# The prepared samples, uncompressed, are kept for the search's later tries and scoring
# when they fit in this much disk (and in a quarter of what is free): 83 MB for the
# grainy 360p clip's 10 s of samples, whose decoding then stopped costing 1.4 s per try.
MAX_RAW_SAMPLES_BYTES: Final = 1 << 30

ProgressFn = Callable[[float, float | None], None]  # (fraction 0..1, eta_s or None)


@dataclass(frozen=True, slots=True)
class ScratchFiles:
    """The search's temporary files, named so that a server restart sweeps them."""

    trial: Path
    log: Path
    samples: Path  # the prepared samples, uncompressed (see MAX_RAW_SAMPLES_BYTES)

    @classmethod
    def beside(cls, output: Path) -> ScratchFiles:
        stem = output.name.removesuffix(".part")
        return cls(*(output.with_name(f"{stem}-{part}.part") for part in SCRATCH_PARTS))

    def remove(self) -> None:
        for path in (self.trial, self.log, self.samples):
            path.unlink(missing_ok=True)


SCRATCH_PARTS: Final = ("trial", "log", "samples")


@dataclass(frozen=True, slots=True)
class SearchResult:
    crf: float
    trials: tuple[Trial, ...]
    windows: tuple[SampleWindow, ...]
    sample_s: float
    predicted_score: float  # on the linear scale, at `crf`, from the samples
    predicted_video_bytes: float | None
    final_encode_s: float  # estimated from the tries' speed
    final_measure_s: float
    final_subsample: int
    elapsed_s: float


class EncodeClock:
    """Steady encoding speed from FFmpeg's progress reports: start-up and the seeks to
    the samples weigh on a short try far more than on the final encode, so the rate is
    taken between the first report and the last."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.marks: list[tuple[float, float]] = []  # (wall clock, content seconds done)

    def mark(self, content_s: float) -> None:
        self.marks.append((time.monotonic(), content_s))

    def seconds_for(self, content_s: float, *, start_up: bool = True) -> float | None:
        """Wall time to encode `content_s` seconds at the steady rate, plus start-up
        (unless it is counted elsewhere)."""
        if len(self.marks) < 2:
            return None
        (t_first, c_first), (t_last, c_last) = self.marks[0], self.marks[-1]
        if t_last - t_first < 0.25 or c_last <= c_first:
            return None
        rate = (c_last - c_first) / (t_last - t_first)
        start_up_s = max(0.0, t_first - self.started - c_first / rate) if start_up else 0.0
        return start_up_s + content_s / rate


def frame_bytes(info: MediaInfo, bytes_per_sample: int = 1) -> int:
    """One prepared frame (4:2:0, cropped to even dimensions), uncompressed: 8-bit, or
    2 bytes a sample when HDR is kept in 10 bits."""
    video = info.video
    if video is None:
        return 0
    return (video.width // 2 * 2) * (video.height // 2 * 2) * 3 // 2 * bytes_per_sample


def raw_samples_fit(
    info: MediaInfo, sample_s: float, directory: Path, bytes_per_sample: int = 1
) -> bool:
    video = info.video
    if video is None or video.width <= 0 or video.height <= 0:
        return False
    # The nominal rate, not the counted one: an over-estimate only keeps the cap safe.
    fps = max(video.fps, frames_in(1.0, info)) or 25.0
    needed = sample_s * fps * frame_bytes(info, bytes_per_sample) * 1.05
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return False
    return needed <= min(MAX_RAW_SAMPLES_BYTES, free / 4)


def decoded_fps(
    raw_samples: Path, info: MediaInfo, sample_s: float, bytes_per_sample: int = 1
) -> float | None:
    """Frames per second FFmpeg actually decoded, counted in the raw samples. tree.avi's
    header says 444 frames at 15 fps; FFmpeg keeps 69 (the rest are empty repeat
    chunks), and 1 frame in 11 of 444 scored 7 frames of the 69."""
    size = frame_bytes(info, bytes_per_sample)
    try:
        frames = raw_samples.stat().st_size // size if size > 0 else 0
    except OSError:
        return None
    return frames / sample_s if frames > 0 and sample_s > 0 else None


def frames_in(seconds: float, info: MediaInfo) -> float:
    """Frames in `seconds` of the input. The container's frame count wins over the
    nominal rate: tree.avi says 15 fps but holds 69 frames in 30 s (AVI marks repeated
    frames as empty chunks, which FFmpeg drops)."""
    video = info.video
    fps = video.fps if video is not None and video.fps > 0 else 25.0
    if video is not None and video.frames and info.duration_s > 0:
        fps = min(fps, video.frames / info.duration_s)
    return seconds * fps


def search_space(plan: CompressPlan) -> SearchSpace:
    video, target = plan.video, plan.target
    per_vmaf = target.linear_per_vmaf()
    return SearchSpace(
        crf_min=video.crf_min,
        crf_max=video.crf_max,
        crf_step=video.crf_step,
        first_crf=plan.first_crf,
        slope=video.vmaf_per_crf * per_vmaf,
        aim=target.linear,
        tolerance=TOLERANCE_VMAF * per_vmaf,
        resolution=max(RESOLUTION_CRF, video.crf_step),
    )


async def search_crf(
    ffmpeg: str,
    src: Path,
    info: MediaInfo,
    plan: CompressPlan,
    scratch: ScratchFiles,
    on_progress: ProgressFn,
    *,
    score_while_encoding: bool,
    limits: MediaLimits,
) -> SearchResult:
    """Tries until the CRF meeting the target is pinned down or the time budget is spent.

    `score_while_encoding`: the final encode will be scored as it runs (its measurement
    then costs the metric only, not a second decoding of the source).
    """
    started = time.monotonic()
    duration = info.duration_s
    windows = pick_sample_windows(duration)
    if windows:
        keyframes = await keyframes_near(src, [w.start_s for w in windows], limits)
        windows = align_to_keyframes(windows, keyframes)
    # The raw samples, the tries and their logs: scratch files of at most this size each.
    scratch_limits = limits.for_ffmpeg(info, MAX_RAW_SAMPLES_BYTES)
    sample_s = sample_seconds(windows, duration)
    # What the tries read: the source's windows, or the raw samples made from them.
    trial_src, trial_windows, trial_format = src, windows, None
    trial_picture = plan.picture
    depth = plan.picture.bytes_per_sample
    # Decoding and preparing the whole source, when the tries do not tell (they read the
    # raw samples): on 2 busy cores a plain encode takes about decoding + encoding.
    decode_s = 0.0
    counted_fps: float | None = None
    on_progress(0.01, None)
    if raw_samples_fit(info, sample_s, scratch.samples.parent, depth):
        clock = EncodeClock()
        await run_ffmpeg(
            samples_raw_argv(ffmpeg, src, windows, scratch.samples, plan.picture),
            sample_s,
            lambda p: clock.mark(p.fraction * sample_s),
            box=Box((src,), (scratch.samples,), scratch_limits),
        )
        trial_src, trial_windows, trial_format = scratch.samples, (), RAW_SAMPLES_MUXER
        trial_picture = plan.picture.already_prepared()
        # The final encode starts FFmpeg once: its start-up is counted from the tries.
        decode_s = clock.seconds_for(duration, start_up=False) or (
            time.monotonic() - clock.started
        ) * (duration / sample_s if sample_s > 0 else 1.0)
        counted_fps = decoded_fps(scratch.samples, info, sample_s, depth)
    # With no known duration the samples are the whole file: tries cost what the rest will.
    whole_per_sample = duration / sample_s if sample_s > 0 else 1.0

    def frames(seconds: float) -> float:
        return seconds * counted_fps if counted_fps else frames_in(seconds, info)

    trial_subsample = subsample_for(frames(sample_s), TRIAL_SCORED_FRAMES, MOST_SUBSAMPLE_TRIAL)
    final_subsample = subsample_for(frames(duration), FINAL_SCORED_FRAMES, MOST_SUBSAMPLE_FINAL)
    fixed_share = FIXED_SCORING_SHARE if score_while_encoding else FIXED_SCORING_SHARE_SEPARATE
    space = search_space(plan)
    budget = TimeBudget(budget_factor(duration))
    trials: list[Trial] = []
    final_encode_s = final_measure_s = 0.0
    crf = next_crf(space, trials)

    def progress_of_try(share_of_try: float) -> Callable[[float], None]:
        def report(fraction: float) -> None:
            done = (len(trials) + share_of_try * fraction) / max(EXPECTED_TRIALS, len(trials) + 1)
            eta = None
            if trials:
                per_try = trials[-1].encode_s + trials[-1].measure_s
                eta = per_try * (1 - done) * EXPECTED_TRIALS + final_encode_s + final_measure_s
            on_progress(min(0.97, done), eta)

        return report

    while crf is not None:
        t0 = time.monotonic()
        clock = EncodeClock()

        def on_encode(p: Progress) -> None:
            clock.mark(p.fraction * sample_s)  # noqa: B023 (called only in this iteration)
            progress_of_try(0.75)(p.fraction)

        await run_ffmpeg(
            sample_encode_argv(
                ffmpeg,
                trial_src,
                trial_windows,
                plan.video,
                crf,
                scratch.trial,
                trial_picture,
                plan.treatment,
                own_format=trial_format,
            ),
            sample_s,
            on_encode,
            box=Box((trial_src,), (scratch.trial,), scratch_limits),
        )
        t1 = time.monotonic()
        size = scratch.trial.stat().st_size
        score = await measure_quality(
            ffmpeg,
            scratch.trial,
            trial_src,
            trial_windows,
            plan.target.metric,
            scratch.log,
            subsample=trial_subsample,
            duration_s=sample_s,
            limits=scratch_limits,
            distorted_format=TRIAL_MUXER,
            src_format=trial_format,
            picture=trial_picture,
            on_progress=lambda f: progress_of_try(1.0)(0.75 + 0.25 * f),
            expected_s=trials[-1].measure_s if trials else None,
        )
        t2 = time.monotonic()
        trials.append(Trial(crf, score.linear, size, t1 - t0, t2 - t1))
        scratch.trial.unlink(missing_ok=True)
        # What the rest of the job will cost, from how fast this try ran.
        encode_s = clock.seconds_for(duration) or (t1 - t0) * whole_per_sample
        final_encode_s = encode_s + decode_s
        measure_scale = trial_subsample / final_subsample + fixed_share
        scoring_s = max(0.0, t2 - t1 - SCORER_START_S)
        final_measure_s = SCORER_START_S + scoring_s * whole_per_sample * measure_scale
        crf = next_crf(space, trials)
        spent = time.monotonic() - started
        if crf is not None and not budget.allows(spent, t2 - t0, final_encode_s, final_measure_s):
            crf = None
    scratch.samples.unlink(missing_ok=True)
    chosen = choose_crf(space, trials)
    on_progress(1.0, final_encode_s + final_measure_s)
    return SearchResult(
        crf=chosen,
        trials=tuple(trials),
        windows=windows,
        sample_s=sample_s,
        predicted_score=score_at(space, trials, chosen),
        predicted_video_bytes=predicted_video_bytes(trials, chosen, sample_s, duration),
        final_encode_s=final_encode_s,
        final_measure_s=final_measure_s,
        final_subsample=final_subsample,
        elapsed_s=time.monotonic() - started,
    )
