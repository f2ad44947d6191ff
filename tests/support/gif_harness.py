"""Run the gif op on a file in this process and report its FFmpeg children's peak memory.

    python -m tests.support.gif_harness SRC OUT START END FPS WIDTH

Prints JSON: {"children_maxrss_bytes", "memory_bound_bytes", "output_bytes"}. A process
of its own, so RUSAGE_CHILDREN counts this op's FFmpeg runs and nothing else (Linux
folds a waited-for child's peak, and its own children's, into the parent's figure).
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import trio

from app.media.ffmpeg_exe import find_ffmpeg
from app.media.upload_probe import probe_upload
from app.server.ops.base import OpContext
from app.server.ops.gif import MAX_GIF_BYTES, GifOp


async def run(src: Path, out: Path, start: str, end: str, fps: str, width: str) -> dict[str, int]:
    op = GifOp()
    info = await probe_upload(src)
    ctx = OpContext(
        ffmpeg=find_ffmpeg(),
        input_path=src,
        input_media_type="mp4",
        info=info,
        params=op.check_params(
            {"start": float(start), "end": float(end), "fps": float(fps), "width": int(width)}
        ),
        output_path=out,
        output_limit_bytes=MAX_GIF_BYTES,
        on_progress=lambda progress, phase: None,
    )
    await op.run(ctx)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "children_maxrss_bytes": usage.ru_maxrss * 1024,
        "memory_bound_bytes": ctx.box().limits.memory_bytes,
        "output_bytes": out.stat().st_size,
    }


if __name__ == "__main__":
    src, out, start, end, fps, width = sys.argv[1:7]
    print(json.dumps(trio.run(run, Path(src), Path(out), start, end, fps, width)))
