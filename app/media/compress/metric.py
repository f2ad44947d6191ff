"""Perceptual quality of an encode against its source: VMAF, or SSIM where FFmpeg lacks it.

VMAF comes from FFmpeg's `libvmaf` filter (model vmaf_v0.6.1, the bundled FFmpeg has
it, docs/compression.md), scored at the video's own resolution and pooled as the mean over frames.
SSIM (FFmpeg's `ssim` filter, the "All" figure: Y, U and V weighted by plane size) is
the fallback for FFmpeg builds without libvmaf, such as Debian's (docs/compression.md).

Why SSIM 0.990 stands for VMAF 93: on the opencv-doc sample clips encoded with x264 at
CRFs 18..34 (bench/compress.py repeats the measurement), the SSIM found at VMAF 93 was
≈0.990 on animation (Megamind), ≈0.972 on noisy camera footage (vtest) and ≈0.960 on
low-resolution camera footage (tree): SSIM and VMAF disagree by 6 dB across content.
The fallback takes the top of that range so that it errs on size, never on looks: at
SSIM 0.990 every measured clip scored VMAF ≥ 92.8. Other targets move 0.5 dB of SSIM
(in dB, −10·log10(1 − SSIM)) per VMAF point, the middle of the slopes measured there.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SSIM_DB_AT_VMAF_93: Final = 20.0  # SSIM 0.990
SSIM_DB_PER_VMAF: Final = 0.5
MAX_SSIM_DB: Final = 60.0  # identical frames give SSIM 1 (infinite dB)
VMAF_MAX: Final = 100.0
MIN_VMAF_DISTANCE: Final = 0.01  # identical frames score 100 (an infinite log)
VMAF_MODEL: Final = "vmaf_v0.6.1"
VMAF_THREADS: Final = 2


class Metric(enum.StrEnum):
    VMAF = "vmaf"
    SSIM = "ssim"


def ssim_to_db(ssim: float) -> float:
    if ssim >= 1.0:
        return MAX_SSIM_DB
    return min(MAX_SSIM_DB, -10.0 * math.log10(1.0 - ssim))


def db_to_ssim(db: float) -> float:
    return 1.0 - math.pow(10.0, -db / 10.0)


def linear_score(metric: Metric, value: float) -> float:
    """The scale the CRF search interpolates on, where quality moves about linearly with
    the CRF: SSIM in dB, VMAF as the log of its distance to 100 (−ln(100 − VMAF)).

    VMAF itself is concave in the CRF: it falls 2–4× faster near 93 than near 98. Its
    distance to 100 grows about exponentially instead; per CRF, on the tries and oracles
    of bench/compress.py, ln(100 − VMAF) rose 0.11–0.19 with x264 on vtest, tree and
    the grainy clip (0.13 on Megamind), 0.05–0.13 with SVT-AV1, steady across 10–15
    CRFs on each clip where VMAF's own slope doubled or tripled.
    """
    if metric is Metric.SSIM:
        return ssim_to_db(value)
    return -math.log(max(MIN_VMAF_DISTANCE, VMAF_MAX - value))


def from_linear(metric: Metric, linear: float) -> float:
    """A score on the search's scale back in the metric's own units."""
    if metric is Metric.SSIM:
        return db_to_ssim(linear)
    return VMAF_MAX - math.exp(-linear)


@dataclass(frozen=True, slots=True)
class QualityTarget:
    metric: Metric
    vmaf: float  # what the user asked for
    value: float  # the same target in the metric's own units

    @classmethod
    def for_vmaf(cls, vmaf: float, metric: Metric) -> QualityTarget:
        if metric is Metric.VMAF:
            return cls(metric, vmaf, vmaf)
        db = SSIM_DB_AT_VMAF_93 + SSIM_DB_PER_VMAF * (vmaf - 93.0)
        return cls(metric, vmaf, round(db_to_ssim(db), 5))

    @property
    def linear(self) -> float:
        return linear_score(self.metric, self.value)

    def linear_per_vmaf(self) -> float:
        """How far the search scale moves per VMAF point near the target (converts the
        encoder's prior and the tolerance)."""
        if self.metric is Metric.SSIM:
            return SSIM_DB_PER_VMAF
        return 1.0 / max(MIN_VMAF_DISTANCE, VMAF_MAX - self.vmaf)


@dataclass(frozen=True, slots=True)
class QualityScore:
    metric: Metric
    value: float  # mean over the frames scored
    frames: int  # how many frames were scored
    subsample: int  # every n-th frame was scored

    @property
    def linear(self) -> float:
        return linear_score(self.metric, self.value)


# --- filter graphs -------------------------------------------------------------------

_LEVEL1: Final = re.compile(r"([\\':])")
_LEVEL2: Final = re.compile(r"([\\'\[\],;])")


def filter_path(path: Path) -> str:
    """A path as a filter option value inside a filtergraph: FFmpeg unescapes twice,
    once for the graph (`\\ ' [ ] , ;`) and once for the option list (`\\ ' :`)."""
    return _LEVEL2.sub(r"\\\1", _LEVEL1.sub(r"\\\1", str(path)))


def metric_filter(metric: Metric, log_path: Path, subsample: int) -> str:
    """The filter comparing `[distorted][reference]` and logging per-frame scores."""
    if metric is Metric.VMAF:
        return (
            f"libvmaf=model=version={VMAF_MODEL}:n_threads={VMAF_THREADS}"
            f":n_subsample={max(1, subsample)}:log_fmt=json:log_path={filter_path(log_path)}"
        )
    # The ssim filter has no subsampling; it is cheap enough to score every frame.
    return f"ssim=stats_file={filter_path(log_path)}"


def read_score(metric: Metric, log_path: Path, subsample: int) -> QualityScore:
    """The pooled score from the log the metric filter wrote; ValueError if unusable."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if metric is Metric.VMAF:
        doc = json.loads(text)
        mean = float(doc["pooled_metrics"]["vmaf"]["mean"])
        return QualityScore(metric, mean, len(doc.get("frames") or ()), max(1, subsample))
    values = [float(m) for m in re.findall(r"\bAll:([0-9.]+)", text)]
    if not values:
        raise ValueError("the SSIM log has no frames")
    return QualityScore(metric, sum(values) / len(values), len(values), 1)


def read_frame_scores(metric: Metric, log_path: Path) -> dict[int, float]:
    """Each scored frame's score (frame index → score) from the metric filter's log."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if metric is Metric.VMAF:
        frames = json.loads(text).get("frames") or ()
        return {int(f["frameNum"]): float(f["metrics"]["vmaf"]) for f in frames}
    # The ssim filter numbers its frames from 1.
    return {
        int(n) - 1: float(value) for n, value in re.findall(r"\bn:(\d+)\b.*?\bAll:([0-9.]+)", text)
    }
