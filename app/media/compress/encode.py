"""The final encode of the compress op: the whole file at the chosen CRF, into MP4.

Where FFmpeg has a loopback decoder (≥ 7) and the frames it must hold fit in memory,
the result is scored against the source in the same run, so the source is decoded once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.media.compress.argv import final_encode_argv, scored_while_encoding
from app.media.compress.metric import QualityScore
from app.media.compress.plan import CompressPlan
from app.media.compress.scoring import score_from_log
from app.media.compress.search import frame_bytes
from app.media.limits import RunLimits
from app.media.probe import MediaInfo
from app.media.runner import Box, Progress, run_ffmpeg

# Scoring while encoding holds source frames until the encoder's output catches up:
# ≈150–180 frames measured (x264 medium and SVT-AV1 8, 360p to 720p). Above this much
# memory for them, the result is scored after the encode, decoding the source again.
HELD_FRAMES_WHILE_SCORING: Final = 250
MAX_HELD_BYTES: Final = 1 << 30


def can_score_while_encoding(
    info: MediaInfo, loopback_decoder: bool, bytes_per_sample: int = 1
) -> bool:
    held = frame_bytes(info, bytes_per_sample) * HELD_FRAMES_WHILE_SCORING
    return loopback_decoder and held <= MAX_HELD_BYTES


@dataclass(frozen=True, slots=True)
class ScoreAlong:
    """Score the final encode as it runs: the metric's log, every n-th frame."""

    log_path: Path
    subsample: int


async def encode_final(
    ffmpeg: str,
    src: Path,
    info: MediaInfo,
    plan: CompressPlan,
    crf: float,
    out: Path,
    limit_bytes: int,
    on_progress: Callable[[Progress], None],
    limits: RunLimits,
    score_along: ScoreAlong | None = None,
) -> QualityScore | None:
    """The final encode; with `score_along` (see can_score_while_encoding) also its score
    against the source, else None (measured afterwards, if at all)."""
    argv = final_encode_argv(ffmpeg, src, plan, crf, out, limit_bytes)
    if score_along is None:
        await run_ffmpeg(argv, info.duration_s, on_progress, box=Box((src,), (out,), limits))
        return None
    metric, log_path, subsample = plan.target.metric, score_along.log_path, score_along.subsample
    argv += scored_while_encoding(metric, log_path, subsample, plan.picture)
    log_path.unlink(missing_ok=True)
    await run_ffmpeg(argv, info.duration_s, on_progress, box=Box((src,), (out, log_path), limits))
    return score_from_log(metric, log_path, subsample)
