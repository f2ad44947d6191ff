"""The whole chunked result scored against the source, and each chunk's share of it.

One metric run over the whole result (as the one-piece path scores its result), every
n-th frame with at least SCORED_FRAMES_PER_CHUNK per chunk; each chunk's score is the
mean of its frames in the per-frame log, on allocation's (VMAF) scale, so that the
correction can compare it with what the chunk's trials predicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from app.media.compress.chunk_trials import vmaf_scale
from app.media.compress.chunks import Chunk
from app.media.compress.metric import QualityScore, linear_score, read_frame_scores
from app.media.compress.plan import CompressPlan
from app.media.compress.scoring import measure_quality
from app.media.compress.search import FINAL_SCORED_FRAMES, MOST_SUBSAMPLE_FINAL
from app.media.compress.search_policy import subsample_for
from app.media.limits import RunLimits

SCORED_FRAMES_PER_CHUNK: Final = 24


async def score_by_chunk(
    ffmpeg: str,
    result: Path,
    src: Path,
    plan: CompressPlan,
    chunks: Sequence[Chunk],
    log: Path,
    *,
    duration_s: float,
    limits: RunLimits,
) -> tuple[QualityScore, list[float | None]]:
    """The result's score, and each chunk's (None for a chunk with no frame scored)."""
    frames = sum(c.frame_count for c in chunks)
    wanted = max(FINAL_SCORED_FRAMES, SCORED_FRAMES_PER_CHUNK * len(chunks))
    per_frame: dict[int, float] = {}

    def read(log_path: Path) -> None:
        per_frame.update(read_frame_scores(plan.target.metric, log_path))

    score = await measure_quality(
        ffmpeg,
        result,
        src,
        (),
        plan.target.metric,
        log,
        subsample=subsample_for(frames, wanted, MOST_SUBSAMPLE_FINAL),
        duration_s=duration_s,
        limits=limits,
        distorted_format=plan.result.muxer,
        picture=plan.picture,
        read_log=read,
    )
    return score, chunk_means(per_frame, chunks, plan)


def chunk_means(
    per_frame: dict[int, float], chunks: Sequence[Chunk], plan: CompressPlan
) -> list[float | None]:
    measured: list[float | None] = []
    for chunk in chunks:
        values = [v for f, v in per_frame.items() if chunk.first_frame <= f < chunk.end_frame]
        if not values:
            measured.append(None)
            continue
        mean = sum(values) / len(values)
        measured.append(vmaf_scale(plan, linear_score(plan.target.metric, mean)))
    return measured
