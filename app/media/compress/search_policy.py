"""Planning a target-quality CRF search on samples of the input (pure: no FFmpeg here).

The method of ab-av1's `crf-search`: encode a few short samples spread over the file
at a CRF, score them against the same frames of the source, interpolate between the
tries until the CRF whose score meets the target is pinned down, then encode once.
What is particular here is the time budget (issue 5): the whole job — search, final
encode and the final file's measurement — must stay within 2× one plain encode for
clips of 60 s or more and 4× for shorter ones, so the search samples a fraction of the
file and stops trying when the next try would not fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

LONG_CLIP_S: Final = 60.0
BUDGET_LONG: Final = 2.0  # × one plain encode, for clips ≥ LONG_CLIP_S
BUDGET_SHORT: Final = 4.0
# Aim below the budget: FFmpeg start-up and a machine shared with other jobs vary (on
# this 2-core box, the same plain encode took 5.7–10 s as other work came and went).
BUDGET_SAFETY: Final = 0.9
# Share of the file the samples cover. Each try costs about this share of a plain
# encode plus its scoring; three tries must fit in what the budget leaves after the
# final encode and its measurement.
SAMPLE_SHARE_LONG: Final = 0.15
SAMPLE_SHARE_SHORT: Final = 0.4
MIN_WINDOW_S: Final = 2.0
TARGET_WINDOW_S: Final = 4.0
MAX_SAMPLE_TOTAL_S: Final = 60.0
MAX_WINDOWS: Final = 10
# Samples covering more than this share of the file: use the whole file instead.
WHOLE_FILE_SHARE: Final = 0.8
MAX_TRIALS: Final = 4


@dataclass(frozen=True, slots=True)
class SampleWindow:
    start_s: float
    duration_s: float


def budget_factor(duration_s: float) -> float:
    return BUDGET_LONG if duration_s >= LONG_CLIP_S else BUDGET_SHORT


def pick_sample_windows(duration_s: float) -> tuple[SampleWindow, ...]:
    """Windows spread evenly over the file (each centred in its n-th of the file, so no
    sample sits on the opening titles or the closing credits); () means the whole file."""
    if not duration_s > 0 or not math.isfinite(duration_s):
        return ()
    share = SAMPLE_SHARE_LONG if duration_s >= LONG_CLIP_S else SAMPLE_SHARE_SHORT
    total = min(MAX_SAMPLE_TOTAL_S, max(share * duration_s, MIN_WINDOW_S))
    if total >= WHOLE_FILE_SHARE * duration_s:
        return ()
    count = max(1, min(MAX_WINDOWS, round(total / TARGET_WINDOW_S), int(total // MIN_WINDOW_S)))
    length = total / count
    slot = duration_s / count
    windows = []
    for i in range(count):
        start = min(max(0.0, (i + 0.5) * slot - length / 2), duration_s - length)
        windows.append(SampleWindow(round(start, 3), round(length, 3)))
    return tuple(windows)


# A window starting at a keyframe's time plus this: FFmpeg seeks to that keyframe and
# drops only its picture (frames before `-ss` are decoded, then dropped).
KEYFRAME_NUDGE_S: Final = 0.001


def align_to_keyframes(
    windows: Sequence[SampleWindow], keyframes: Sequence[float | None]
) -> tuple[SampleWindow, ...]:
    """Move each window back to start on the keyframe before it (see keyframes.py), unless
    that keyframe lies more than half the gap between windows back, or inside the
    previous window: the samples stay spread and never overlap."""
    aligned: list[SampleWindow] = []
    for window, key in zip(windows, keyframes, strict=True):
        previous_end = aligned[-1].start_s + aligned[-1].duration_s if aligned else 0.0
        reach = (window.start_s - previous_end) / 2
        if key is not None and previous_end <= key <= window.start_s <= key + reach:
            window = SampleWindow(round(key + KEYFRAME_NUDGE_S, 6), window.duration_s)
        aligned.append(window)
    return tuple(aligned)


def sample_seconds(windows: Sequence[SampleWindow], duration_s: float) -> float:
    return sum(w.duration_s for w in windows) if windows else duration_s


def search_share_of_job(duration_s: float, expected_trials: int = 3) -> float:
    """The share of the job's time the search is expected to take (for progress): each
    try encodes and scores the samples (≈1.4× encoding them), the final encode and its
    scoring ≈1.3× one plain encode."""
    windows = pick_sample_windows(duration_s)
    share = sample_seconds(windows, duration_s) / duration_s if duration_s > 0 else 1.0
    search = expected_trials * share * 1.4
    return search / (search + 1.3)


# Subsampling steps: 1, or primes from 5 up. Encoders repeat frame qualities in short
# periods — x264's B-frame runs (2–4 frames), SVT-AV1's hierarchical layers (powers of
# two) — and a step sharing a factor with the period scores only some layers: every
# 2nd frame of an SVT-AV1 encode of Megamind.avi scored VMAF 93.2 where all frames
# scored 91.7 (every 4th: 94.1; every 5th: 91.6; every 7th: 91.4).
SUBSAMPLE_STEPS: Final = (1, 5, 7, 11, 13, 17, 19, 23, 29)


def subsample_for(frames: float, wanted_frames: int, most: int) -> int:
    """Score every n-th frame, keeping at least `wanted_frames` scored (libvmaf's
    `n_subsample`): VMAF costs ~5× the decoding it rides on, and frames a few apart
    score alike, so the mean barely moves."""
    fits = [n for n in SUBSAMPLE_STEPS if n <= most and frames >= n * wanted_frames]
    return max(fits, default=1)


@dataclass(frozen=True, slots=True)
class Trial:
    """One try: the samples encoded at `crf`, scored on the search's linear scale."""

    crf: float
    score: float
    sample_bytes: int
    encode_s: float
    measure_s: float


@dataclass(frozen=True, slots=True)
class SearchSpace:
    crf_min: float
    crf_max: float
    crf_step: float
    first_crf: float
    slope: float  # score lost per CRF step near the target (> 0), a prior
    aim: float  # the target on the linear scale
    tolerance: float  # a try scoring within [aim, aim + tolerance] is taken as is
    resolution: float  # stop once the target is bracketed this tightly (CRF units)
    max_trials: int = MAX_TRIALS

    @property
    def max_jump(self) -> float:
        """The largest step a try may take from measured ground."""
        return (self.crf_max - self.crf_min) / 4

    def clamp(self, crf: float) -> float:
        return min(self.crf_max, max(self.crf_min, crf))

    def floor(self, crf: float) -> float:
        """Round down to the encoder's CRF step: towards quality."""
        steps = math.floor((crf - self.crf_min) / self.crf_step + 1e-6)
        return round(self.crf_min + steps * self.crf_step, 3)

    def nearest(self, crf: float) -> float:
        steps = round((crf - self.crf_min) / self.crf_step)
        return round(self.crf_min + steps * self.crf_step, 3)


def bracket(space: SearchSpace, trials: Sequence[Trial]) -> tuple[Trial | None, Trial | None]:
    """(highest CRF meeting the aim, lowest CRF missing it)."""
    passing = [t for t in trials if t.score >= space.aim]
    failing = [t for t in trials if t.score < space.aim]
    best = max(passing, key=lambda t: t.crf) if passing else None
    worst = min(failing, key=lambda t: t.crf) if failing else None
    return best, worst


def _slope_near_aim(space: SearchSpace, trials: Sequence[Trial]) -> float:
    """Measured slope from the two tries closest to the aim, kept within 3× of the prior
    (two noisy points close together can suggest anything)."""
    if len(trials) < 2:
        return space.slope
    a, b = sorted(trials, key=lambda t: abs(t.score - space.aim))[:2]
    if a.crf == b.crf:
        return space.slope
    measured = (a.score - b.score) / (b.crf - a.crf)
    if not measured > 0:
        return space.slope
    return min(3 * space.slope, max(space.slope / 3, measured))


def estimate_crf(space: SearchSpace, trials: Sequence[Trial]) -> float:
    """The CRF where the score should meet the aim: interpolated between the tries that
    bracket it, else extrapolated from the closest try along the slope."""
    if not trials:
        return space.first_crf
    best, worst = bracket(space, trials)
    if best is not None and worst is not None and best.crf < worst.crf:
        span = best.score - worst.score
        return best.crf + (best.score - space.aim) * (worst.crf - best.crf) / span
    anchor = min(trials, key=lambda t: abs(t.score - space.aim))
    slope = _slope_near_aim(space, trials)
    if anchor.score > space.aim:
        # Quality falls faster the higher the CRF (the curve is concave): a slope
        # measured below the target understates the fall beyond it. Overshooting here
        # would miss the target; the prior is the steeper guess.
        slope = max(slope, space.slope)
    step = (anchor.score - space.aim) / slope
    step = max(-space.max_jump, min(space.max_jump, step))
    return space.clamp(anchor.crf + step)


def next_crf(space: SearchSpace, trials: Sequence[Trial]) -> float | None:
    """The CRF to try next, or None when another try would not change the answer."""
    if not trials:
        return space.nearest(space.clamp(space.first_crf))
    if len(trials) >= space.max_trials:
        return None
    best, worst = bracket(space, trials)
    if best is not None and best.score - space.aim <= space.tolerance:
        return None
    if best is not None and worst is not None and abs(worst.crf - best.crf) <= space.resolution:
        return None
    crf = space.nearest(estimate_crf(space, trials))
    if best is not None and best.crf == space.crf_max and crf >= space.crf_max:
        return None  # even the lowest quality allowed meets the aim
    if worst is not None and worst.crf == space.crf_min and crf <= space.crf_min:
        return None  # even the highest quality allowed misses it: take that
    if any(abs(t.crf - crf) < space.crf_step / 2 for t in trials):
        return None
    return crf


def choose_crf(space: SearchSpace, trials: Sequence[Trial]) -> float:
    """The CRF for the final encode: the estimate rounded towards quality. Unless a try
    above it missed the aim (then the estimate is an interpolation), it stays within half
    a jump of the highest CRF actually seen to meet the aim."""
    crf = estimate_crf(space, trials)
    best, worst = bracket(space, trials)
    if best is not None:
        limit = worst.crf if worst is not None and worst.crf > best.crf else None
        crf = max(best.crf, min(crf, limit or best.crf + space.max_jump / 2))
    return space.floor(space.clamp(crf))


def score_at(space: SearchSpace, trials: Sequence[Trial], crf: float) -> float:
    """The score the tries suggest at `crf`: interpolated between the nearest tries on
    either side, else along the slope from the closest one."""
    below = [t for t in trials if t.crf <= crf]
    above = [t for t in trials if t.crf > crf]
    if below and above:
        a, b = max(below, key=lambda t: t.crf), min(above, key=lambda t: t.crf)
        return a.score + (crf - a.crf) * (b.score - a.score) / (b.crf - a.crf)
    if not trials:
        return space.aim
    anchor = min(trials, key=lambda t: abs(t.crf - crf))
    return anchor.score - (crf - anchor.crf) * _slope_near_aim(space, trials)


def predicted_video_bytes(
    trials: Sequence[Trial], crf: float, sample_s: float, duration_s: float
) -> float | None:
    """Video size of the final encode at `crf`, from the tries' sizes: bitrate is close to
    exponential in the CRF, so interpolate log-size linearly between the nearest two."""
    points = sorted((t.crf, math.log(max(1, t.sample_bytes))) for t in trials)
    if not points or sample_s <= 0:
        return None
    if len(points) == 1:
        # x264/x265's rule of thumb: +6 CRF halves the bitrate.
        log_bytes = points[0][1] - (crf - points[0][0]) * math.log(2) / 6
    else:
        below = [p for p in points if p[0] <= crf]
        above = [p for p in points if p[0] > crf]
        if below and above:
            (c0, l0), (c1, l1) = below[-1], above[0]
        elif above:
            (c0, l0), (c1, l1) = above[0], above[1]
        else:
            (c0, l0), (c1, l1) = below[-2], below[-1]
        log_bytes = l0 + (crf - c0) * (l1 - l0) / (c1 - c0) if c1 != c0 else l0
    return math.exp(log_bytes) * duration_s / sample_s


@dataclass(frozen=True, slots=True)
class TimeBudget:
    """Whether one more try fits: spent + next try + final encode + its measurement must
    stay within `factor` × the final encode's own time (estimated from the tries)."""

    factor: float

    def allows(
        self, spent_s: float, next_trial_s: float, final_encode_s: float, final_measure_s: float
    ) -> bool:
        planned = spent_s + next_trial_s + final_encode_s + final_measure_s
        return planned <= BUDGET_SAFETY * self.factor * final_encode_s
