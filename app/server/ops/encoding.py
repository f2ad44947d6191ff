"""Running an op's FFmpeg command inside its output allowance (SPEC §3: quota)."""

from __future__ import annotations

from collections.abc import Callable

import trio

from app.media.argv import encoders_in, limit_size
from app.media.capabilities import require_encoders
from app.media.limits import check_decoded_frames
from app.media.runner import Box, Progress, run_ffmpeg
from app.protocol.errors import ErrorCode, VcsError
from app.server.ops.base import OpContext
from app.server.units import format_bytes

MiB = 1024 * 1024


async def encode(
    ctx: OpContext,
    argv: list[str],
    duration_s: float,
    too_large_hint: str,
    *,
    box: Box | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> int:
    """Check the frames it decodes and the encoders it needs, run FFmpeg with `-fs` in its
    box (default: the input and the output), and refuse a result cut at the limit.

    Returns the result's size. `duration_s` is the length of input FFmpeg reads (the
    decoded-frames cap, progress).
    """
    check_decoded_frames(ctx.info, duration_s, ctx.limits)
    await trio.to_thread.run_sync(require_encoders, ctx.ffmpeg, *encoders_in(argv))
    await run_ffmpeg(
        limit_size(argv, ctx.output_limit_bytes),
        duration_s,
        on_progress or (lambda progress: ctx.on_progress(progress, "encoding")),
        box=box or ctx.box(),
    )
    size = ctx.output_path.stat().st_size
    # `-fs` ends the output cleanly once it passes the limit, so a cut file looks whole.
    if size >= ctx.output_limit_bytes:
        raise VcsError(
            ErrorCode.RESULT_TOO_LARGE,
            f"The result grew past {format_bytes(ctx.output_limit_bytes)}, the space this "
            "job may use, and was discarded.",
            too_large_hint,
        )
    return size
