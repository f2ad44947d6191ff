"""The work queue's consumer on this node: claim a task when an FFmpeg slot is free, run
it under a lease renewed with its progress, end it in the job store (docs/operations.md, §7).

`--max-jobs` slots per node claim tasks from the shared queue (`SELECT … FOR UPDATE
SKIP LOCKED` on PostgreSQL), so a cluster's nodes take work as they have room. A run
renews its lease while FFmpeg works; if the node dies the lease runs out and another
node runs the job again from its stored input (bounded: docs/scale.md). A cancel made
on any node reaches the run here through the store's notifications (or, if one is
lost, at the next renewal) and stops it.

Tasks have kinds: `TASK_RUNNERS` maps each kind this node can run to the function that
runs one (`job` runs a whole upload op, `chunk` and `trial` one chunk encode or one
trial of a chunked compress: chunk_tasks.py). A kind is queued with
`SqlJobStore.queue_task` and ended with `complete_task`; docs/scale.md, "Chunks on the
queue".
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import trio

from app.media.compress.chunk_runner import ChunkRunner
from app.media.media_info import MediaInfo
from app.media.runner import Progress
from app.media.upload_probe import probe_upload
from app.protocol.errors import ErrorCode, ErrorInfo, VcsError
from app.server.chunk_queue import QueuedChunks
from app.server.chunk_tasks import CHUNK_KIND, TRIAL_KIND, delete_chunks, run_chunk_task
from app.server.ops import UPLOAD_OPS
from app.server.ops.base import OpContext
from app.server.registry import JobRegistry, Run, RunLost
from app.server.state import ServerState
from app.server.stores.blob_store import BlobStore, result_key
from app.server.stores.job_store import StoreUnavailable
from app.wire.exception_groups import sole_exception

log = logging.getLogger(__name__)

# Progress reaches the store (and long polls on any node) at most this often.
PROGRESS_WRITE_S: Final = 0.5
# An idle slot looks at the queue this often even without a notification.
CLAIM_POLL_S: Final = 2.0
STORE_RETRY_S: Final = 1.0
# On shutdown, how long ending or handing back the runs may take.
STOP_GRACE_S: Final = 10.0


def sha256_of_open_file(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := f.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


async def put_and_hash(
    blobs: BlobStore, path: Path, key: str, limiter: trio.CapacityLimiter
) -> tuple[str, int]:
    """Store a finished local file under `key` and hash it at the same time: the hash
    reads the pages from the cache while the store fsyncs or uploads them. Done one after
    the other they were most of a stream-copy job's time around FFmpeg
    (bench/processing.py, issue 9 goal 5). (sha256, size)."""
    digest: list[str] = []
    # The open file is read to its end whatever the store does to its name.
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size

        async def hash_it() -> None:
            digest.append(await trio.to_thread.run_sync(sha256_of_open_file, f, limiter=limiter))

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(hash_it)
                await blobs.put_file(path, key)
        except BaseExceptionGroup as group:
            raise sole_exception(group) from None
    return digest[0], size


@dataclass
class RunProgress:
    """What a run reports: updated by FFmpeg's progress, written by the lease keeper."""

    fraction: float = 0.0
    eta_s: float | None = None
    phase: str = "starting"
    version: int = 0

    def set(self, fraction: float, eta_s: float | None, phase: str | None = None) -> None:
        self.fraction = max(self.fraction, min(1.0, fraction))
        self.eta_s = None if eta_s is None else round(max(0.0, eta_s), 1)
        if phase is not None:
            self.phase = phase
        self.version += 1

    def snapshot(self) -> tuple[float, float | None, str]:
        return self.fraction, self.eta_s, self.phase


async def _keep_lease(
    registry: JobRegistry, run: Run, progress: RunProgress, lease_s: float, lost: trio.CancelScope
) -> None:
    """Renew the run's lease (a third of it at the latest) and write its progress (when
    it moved, at most every PROGRESS_WRITE_S); a refused renewal stops the run."""
    written = -1
    renewed = time.monotonic()
    unreachable = False
    while True:
        await trio.sleep(PROGRESS_WRITE_S)
        if progress.version == written and time.monotonic() - renewed < lease_s / 3:
            continue
        version = progress.version
        try:
            ours = await registry.renew(run, lease_s, progress.snapshot())
        except StoreUnavailable as exc:
            if not unreachable:
                log.warning("job %s: cannot renew its lease now: %s", run.task.job_id, exc)
            unreachable = True
            continue
        if unreachable:
            log.info("job %s: the job store answers again", run.task.job_id)
            unreachable = False
        if not ours:
            log.info("job %s stops here: cancelled, or taken over", run.task.job_id)
            lost.cancel()
            return
        written, renewed = version, time.monotonic()


async def run_job(run: Run, state: ServerState) -> None:
    """One run of a whole job; every exit path ends it in the store or leaves it to the
    node (or request) that took it over."""
    registry = state.jobs
    progress = RunProgress()
    job_id = run.task.job_id
    handed_back = False
    with trio.CancelScope() as stopped_elsewhere:
        registry.board.running_here(job_id, stopped_elsewhere)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    _keep_lease, registry, run, progress, state.config.task_lease_s,
                    stopped_elsewhere,
                )  # fmt: skip
                await _run_to_end(run, state, progress)
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise sole_exception(group) from None
        finally:
            registry.board.not_running_here(job_id)
            if not run.ended and not stopped_elsewhere.cancel_called:
                # The server stops (the run did not end, nobody else ended it).
                with trio.CancelScope(shield=True), trio.move_on_after(STOP_GRACE_S):
                    await _stop(run, state)
                handed_back = True
            # What the job finished stays for its next run: here (a node alone keeps
            # its directory), or anywhere (a cluster's chunks in the blob store).
            if not handed_back or registry.shared:
                state.work.remove_job_dir(job_id)
            if run.ended and not handed_back and registry.shared:
                await delete_chunks(state, job_id)


async def _stop(run: Run, state: ServerState) -> None:
    """The server stops mid-run: the job goes back to the queue (or is left for its
    lease to run out), for another node at once (cluster) or for this one when it
    starts again, from what it finished (alone; docs/operations.md, "What happens on
    each fault")."""
    try:
        await state.jobs.give_back(run)
    except StoreUnavailable:
        log.warning("job %s: the store is unreachable; its lease will run out", run.task.job_id)


async def _run_to_end(run: Run, state: ServerState, progress: RunProgress) -> None:
    """Process the job and make the transition that ends it (done or failed)."""
    registry = state.jobs
    timeout_s = state.config.job_timeout_s
    try:
        # Every phase (the copy of the input, the probe, FFmpeg, storing the result) is
        # inside the timeout and the run's scope: `cancel`, the job timeout and shutdown
        # stop whichever is running.
        with trio.move_on_after(timeout_s):
            await _process(run, state, progress)
            return
        error = ErrorInfo(
            ErrorCode.TIMEOUT,
            f"The job ran longer than {timeout_s:.0f} s.",
            "Try a shorter clip, or ask the operator to raise --job-timeout.",
        )
    except RunLost:
        return
    except VcsError as exc:
        error = exc.info
    except Exception:
        log.exception("job %s failed unexpectedly", run.task.job_id)
        error = ErrorInfo(
            ErrorCode.INTERNAL,
            "The server hit an internal error while processing the job.",
            "Try again; if it repeats, report the job id to the operator.",
        )
    await registry.fail(run, error)


async def _process(run: Run, state: ServerState, progress: RunProgress) -> None:
    record = run.record
    op = UPLOAD_OPS[record.op]
    registry = state.jobs
    progress.set(0.0, None, "probing")
    async with state.blobs.local_copy(record.input_key, state.work.dir) as input_path:
        info = await probe_upload(input_path, state.config.media_limits)
        output_limit = await registry.reserve_result(run, op.output_allowance(record.input_size))
        with state.work.partial_result() as partial:

            def on_progress(update: Progress, phase: str) -> None:
                progress.set(update.fraction, update.eta_s, phase)

            job_dir = state.work.job_dir(record.id)
            runner = _chunk_runner(run, state, input_path, info, output_limit, job_dir)
            async with runner as chunks:
                ctx = OpContext(
                    ffmpeg=state.ffmpeg,
                    input_path=input_path,
                    input_media_type=record.input_media_type,
                    info=info,
                    params=record.params,
                    output_path=partial.path,
                    output_limit_bytes=output_limit,
                    on_progress=on_progress,
                    limits=state.config.media_limits,
                    job_dir=job_dir,
                    chunk_runner=chunks,
                )
                outcome = await op.run(ctx)
            progress.set(1.0, 0.0, "finishing")
            key = result_key(record.id, run.task.attempt, outcome.media_type)
            # The input itself may be the result (compress could not beat it): stored
            # under the result's key (a rename with a local store), no extra space.
            source = input_path if outcome.reuse_input else partial.path
            sha256, size = await put_and_hash(state.blobs, source, key, state.thread_limiter)
    await registry.complete(run, key, outcome.media_type, size, sha256, outcome.report)


@contextlib.asynccontextmanager
async def _chunk_runner(
    run: Run,
    state: ServerState,
    input_path: Path,
    info: MediaInfo,
    output_limit: int,
    job_dir: Path,
) -> AsyncIterator[ChunkRunner | None]:
    """In a cluster, a chunked compress hands its trials and chunks to the work queue
    (every node runs them); alone, it runs them here (None: the op's own workers)."""
    if not state.jobs.shared:
        yield None
        return
    limits = state.config.media_limits.for_ffmpeg(info, output_limit)
    queued = QueuedChunks(state, run, input_path, limits, job_dir)
    async with queued.open() as chunks:
        yield chunks


# Each kind of task this node can run, and the function that runs one.
TaskRunner = Callable[[Run, ServerState], Awaitable[None]]
TASK_RUNNERS: Final[dict[str, TaskRunner]] = {
    "job": run_job,
    CHUNK_KIND: run_chunk_task,
    TRIAL_KIND: run_chunk_task,
}


async def claim_loop(state: ServerState) -> None:
    """Claim tasks while FFmpeg slots are free (`--max-jobs`, changed on reload), run
    each in its own task; until cancelled (shutdown hands the runs back or ends them)."""
    registry = state.jobs
    kinds = tuple(TASK_RUNNERS)
    unreachable = False
    async with trio.open_nursery() as runs:
        while True:
            if not state.accepting and registry.shared:
                # Draining a cluster node: the others take the queue from here.
                await trio.sleep(CLAIM_POLL_S)
                continue
            slot = object()
            await state.ffmpeg_limiter.acquire_on_behalf_of(slot)
            queued = registry.board.work_signal()
            try:
                run = await registry.claim(state.config.task_lease_s, kinds)
            except StoreUnavailable as exc:
                state.ffmpeg_limiter.release_on_behalf_of(slot)
                if not unreachable:
                    log.warning("cannot look at the work queue now: %s", exc)
                unreachable = True
                await trio.sleep(STORE_RETRY_S)
                continue
            unreachable = False
            if run is None:
                state.ffmpeg_limiter.release_on_behalf_of(slot)
                with trio.move_on_after(CLAIM_POLL_S):
                    await queued.wait()
                continue
            runs.start_soon(_run_in_slot, run, state, slot)


async def _run_in_slot(run: Run, state: ServerState, slot: object) -> None:
    try:
        await TASK_RUNNERS[run.task.kind](run, state)
    except Exception:
        log.exception(
            "task %s/%d of kind %s failed", run.task.job_id, run.task.task_no, run.task.kind
        )
    finally:
        state.ffmpeg_limiter.release_on_behalf_of(slot)
