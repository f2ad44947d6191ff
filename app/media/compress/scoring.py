"""Scoring an encode against its source with FFmpeg's metric filter (VMAF or SSIM).

The metric's argument lists are argv.py's and its scales metric.py's; this module runs
FFmpeg on them and reads the score from the filter's log.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import trio

from app.media.compress.argv import quality_argv
from app.media.compress.metric import Metric, QualityScore, read_score
from app.media.compress.picture import PLAIN_PICTURE, SourcePicture
from app.media.compress.search_policy import SampleWindow
from app.media.limits import RunLimits
from app.media.runner import Box, run_ffmpeg
from app.protocol.errors import ErrorCode, VcsError

CLOCK_TICK_S: Final = 0.5


async def measure_quality(
    ffmpeg: str,
    distorted: Path,
    src: Path,
    windows: Sequence[SampleWindow],
    metric: Metric,
    log_path: Path,
    *,
    subsample: int,
    duration_s: float,
    limits: RunLimits,
    distorted_format: str,
    src_format: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    expected_s: float | None = None,
    picture: SourcePicture = PLAIN_PICTURE,
    read_log: Callable[[Path], None] | None = None,
) -> QualityScore:
    """Score `distorted` (a file we wrote as `distorted_format`) against `src` (its
    samples when `windows` are given; `src_format` when we wrote it, None for the upload).

    libvmaf holds frames back, so FFmpeg's own progress may sit still until the end;
    with `expected_s` the progress also moves with the clock (never past 95 %).
    `read_log` reads the metric's log (per-frame scores) before it is removed.
    """
    argv = quality_argv(
        ffmpeg,
        distorted,
        src,
        windows,
        metric,
        log_path,
        subsample,
        picture,
        distorted_format=distorted_format,
        src_format=src_format,
    )
    log_path.unlink(missing_ok=True)
    shown = 0.0

    def report(fraction: float) -> None:
        nonlocal shown
        if on_progress is not None and fraction > shown:
            shown = fraction
            on_progress(fraction)

    # A failing FFmpeg is raised as itself, not wrapped in the nursery's exception group
    # (which the job would report as an internal error instead of ffmpeg_failed).
    failure: VcsError | None = None
    async with trio.open_nursery() as nursery:
        if on_progress is not None and expected_s is not None and expected_s > 0:
            nursery.start_soon(_move_with_clock, expected_s, report)
        box = Box(reads=(distorted, src), writes=(log_path,), limits=limits)
        try:
            await run_ffmpeg(argv, duration_s, lambda p: report(p.fraction), box=box)
        except VcsError as exc:
            failure = exc
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if read_log is not None:
        # An unreadable log: score_from_log names what is wrong with it.
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            read_log(log_path)
    return score_from_log(metric, log_path, subsample)


def score_from_log(metric: Metric, log_path: Path, subsample: int) -> QualityScore:
    """The score the metric filter logged (the log is removed)."""
    try:
        return read_score(metric, log_path, subsample)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VcsError(
            ErrorCode.FFMPEG_FAILED,
            f"FFmpeg's {metric} filter left no usable score ({type(exc).__name__}).",
            "Report the job id to the operator; compressing with this FFmpeg is broken.",
        ) from None
    finally:
        log_path.unlink(missing_ok=True)


async def _move_with_clock(expected_s: float, report: Callable[[float], None]) -> None:
    started = time.monotonic()
    while True:
        await trio.sleep(CLOCK_TICK_S)
        report(min(0.95, (time.monotonic() - started) / expected_s))
