"""`compress`: a smaller file that looks like the original, settings chosen per file.

The design: docs/compression.md.

The parameters are the op table's (app/protocol/ops); the job itself is
app/media/compress/ (pipeline.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Final

import trio

from app.media.compress.chunk_job import CHUNKED_FROM_S
from app.media.compress.chunked_pipeline import resume_chunked
from app.media.compress.chunks import chunking_worthwhile
from app.media.compress.pipeline import CompressOutcome, CompressRequest, compress_file
from app.media.media_info import MediaInfo
from app.protocol.ops.table import DEFAULT_TARGET_VMAF
from app.server.ops.base import OpContext, OpOutcome, require_video
from app.server.ops.params import static_check

# Whether compress cuts its input into chunks: "auto" (inputs from CHUNKED_FROM_S on,
# in a container FFmpeg seeks exactly), "always" (any input FFmpeg seeks exactly: tests
# and benchmarks) or "never" (the one-piece path only). docs/operations.md.
CHUNKS_ENV: Final = "VCS_COMPRESS_CHUNKS"
CHUNK_MODES: Final = ("auto", "always", "never")
# Containers with an index, where an input -ss lands on the exact frame (an MPEG-TS or
# a raw stream seeks by bytes and can start a chunk late).
EXACT_SEEK_FORMATS: Final = frozenset({"mov", "mp4", "matroska", "webm", "avi"})


def chunk_mode() -> str:
    mode = os.environ.get(CHUNKS_ENV, "auto").strip().lower()
    return mode if mode in CHUNK_MODES else "auto"


def compresses_in_chunks(info: MediaInfo, mode: str) -> bool:
    if mode == "never" or not EXACT_SEEK_FORMATS & set(info.format_name.split(",")):
        return False
    return mode == "always" or chunking_worthwhile(info.duration_s, CHUNKED_FROM_S)


def chunk_work_dir(ctx: OpContext) -> Path:
    """Where a chunked job keeps its chunks: the job's own directory, which this node
    keeps across a restart for the job it resumes (docs/operations.md, "Chunked
    compress"); without one (a direct call), a directory beside FFmpeg's output."""
    if ctx.job_dir is not None:
        return ctx.job_dir
    return ctx.output_path.parent / f".{ctx.input_path.name}.chunks"


def requested_settings(params: dict[str, Any]) -> tuple[str | None, float]:
    """The job's codec (None: chosen from the input, h264; h265 for HDR, which keeps
    it) and quality target, from its checked parameters."""
    target = params.get("target_vmaf")
    return params.get("codec"), float(DEFAULT_TARGET_VMAF if target is None else target)


class CompressOp:
    name = "compress"

    def check_params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return static_check(self.name, doc)

    def output_allowance(self, input_size: int) -> int:
        # Never larger than the input: anything bigger is discarded anyway.
        return input_size

    async def run(self, ctx: OpContext) -> OpOutcome:
        require_video(ctx.info)
        codec, target_vmaf = requested_settings(ctx.params)
        request = CompressRequest(
            ffmpeg=ctx.ffmpeg,
            src=ctx.input_path,
            info=ctx.info,
            codec=codec,
            target_vmaf=target_vmaf,
            output=ctx.output_path,
            limit_bytes=ctx.output_limit_bytes,
            limits=ctx.limits,
        )
        if compresses_in_chunks(ctx.info, chunk_mode()):
            outcome = await compress_in_chunks(request, chunk_work_dir(ctx), ctx)
        else:
            outcome = await compress_file(request, ctx.on_progress)
        if outcome.media_type is None:  # already well compressed: the input is the result
            return OpOutcome(ctx.input_media_type, reuse_input=True, report=outcome.report)
        return OpOutcome(outcome.media_type, report=outcome.report)


async def compress_in_chunks(
    request: CompressRequest, work_dir: Path, ctx: OpContext
) -> CompressOutcome:
    """The chunked job; its work directory is removed when the job ends with a result
    or an error, and kept when it is cancelled (a shutdown). Running the op again for
    the same job (same input path, results directory) finds the directory and resumes
    from it (resume_chunked: docs/compression.md, "Resume")."""
    try:
        outcome = await resume_chunked(request, work_dir, ctx.on_progress, runner=ctx.chunk_runner)
    except BaseException as exc:
        if not only_cancelled(exc):
            remove_work_dir(work_dir)
        raise
    remove_work_dir(work_dir)
    return outcome


def only_cancelled(exc: BaseException) -> bool:
    """A cancellation, alone or grouped (the chunk workers' nursery groups them)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(trio.Cancelled)[1] is None
    return isinstance(exc, trio.Cancelled)


def remove_work_dir(work_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(work_dir)
