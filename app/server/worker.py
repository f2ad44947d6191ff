"""Running one job: wait for an FFmpeg slot, probe, run the op, keep the result (SPEC §3)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import BinaryIO

import trio

from app.media.runner import Progress
from app.media.upload_probe import probe_upload
from app.protocol.errors import ErrorCode, ErrorInfo, VcsError
from app.server.job import Job
from app.server.ops import UPLOAD_OPS
from app.server.ops.base import OpContext
from app.server.state import ServerState
from app.wire.atomic_write import AtomicFile

log = logging.getLogger(__name__)


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return sha256_of_open_file(f)


def sha256_of_open_file(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := f.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


async def commit_and_hash(partial: AtomicFile, final: Path, limiter: trio.CapacityLimiter) -> str:
    """Move the result into place and hash it at the same time: the hash reads the pages
    from the cache while fsync waits for the disk. Done one after the other they were most
    of a stream-copy job's time around FFmpeg (bench/processing.py, issue 9 goal 5)."""
    digest: list[str] = []
    # The open file is read to its end whatever the rename does to its name.
    with partial.path.open("rb") as f:

        async def hash_it() -> None:
            digest.append(await trio.to_thread.run_sync(sha256_of_open_file, f, limiter=limiter))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(hash_it)
            await partial.commit(final)
    return digest[0]


async def run_job(job: Job, state: ServerState) -> None:
    """The whole life of a job after its upload; every exit path frees what it held."""
    registry = state.jobs
    try:
        with trio.CancelScope() as scope:
            job.cancel_scope = scope
            # Every phase (the wait for a slot, the probe, FFmpeg) is inside both scopes:
            # `cancel`, the job timeout and shutdown stop whichever is running.
            with trio.move_on_after(state.config.job_timeout_s) as timeout:
                await _process(job, state)
            if timeout.cancelled_caught:
                registry.fail(
                    job,
                    ErrorInfo(
                        ErrorCode.TIMEOUT,
                        f"The job ran longer than {state.config.job_timeout_s:.0f} s.",
                        "Try a shorter clip, or ask the operator to raise --job-timeout.",
                    ),
                )
    except VcsError as exc:
        registry.fail(job, exc.info)
    except Exception:
        log.exception("job %s failed unexpectedly", job.id)
        registry.fail(
            job,
            ErrorInfo(
                ErrorCode.INTERNAL,
                "The server hit an internal error while processing the job.",
                "Try again; if it repeats, report the job id to the operator.",
            ),
        )
    finally:
        job.cancel_scope = None
        registry.job_ended(job)


async def _process(job: Job, state: ServerState) -> None:
    op = UPLOAD_OPS[job.op]
    registry = state.jobs
    async with state.ffmpeg_limiter:
        registry.start(job)
        info = await probe_upload(job.input_path, state.config.media_limits)
        output_limit = registry.reserve_result(job, op.output_allowance(job.input_size))
        with state.storage.partial_result() as partial:

            def on_progress(progress: Progress, phase: str) -> None:
                job.set_progress(progress.fraction, progress.eta_s, phase)

            ctx = OpContext(
                ffmpeg=state.ffmpeg,
                input_path=job.input_path,
                input_media_type=job.input_media_type,
                info=info,
                params=job.params,
                output_path=partial.path,
                output_limit_bytes=output_limit,
                on_progress=on_progress,
                limits=state.config.media_limits,
            )
            outcome = await op.run(ctx)
            final = state.storage.result_path(job.id, outcome.media_type)
            job.set_progress(1.0, 0.0, "finishing")
            if outcome.reuse_input:
                # The input becomes the result: a rename, no extra space.
                os.replace(job.input_path, final)
                result_sha256 = await trio.to_thread.run_sync(
                    sha256_file, final, limiter=state.thread_limiter
                )
            else:
                result_sha256 = await commit_and_hash(partial, final, state.thread_limiter)
        registry.complete(
            job,
            final,
            outcome.media_type,
            result_sha256,
            outcome.report,
            from_input=outcome.reuse_input,
        )
