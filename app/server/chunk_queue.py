"""A compress job's chunks on the cluster's work queue (docs/scale.md, "Chunks on the
queue").

In a cluster (PostgreSQL and S3), a chunked compress (app/media/compress/
chunked_pipeline.py) hands its chunk encodes to `QueuedChunks`: each ChunkTask becomes
a task of kind `chunk` in the job store, named by its key. Any node with a free
`--max-jobs` slot claims one (`run_chunk`, a worker TASK_RUNNERS entry), encodes it
from its own copy of the job's input, stores the chunk under `chunks/<job>/` in the
blob store and completes the task with the chunk's description. The job's own node
works on the job's chunks too, one worker per core (claiming only that job's tasks: the
job holds one slot there), and fetches each finished chunk for the join.

A node that dies mid-chunk: its lease runs out and the task is queued again (the third
loss fails the job). The job's node dying: the job is queued again, and its next run
queues the same tasks (same keys): those done are fetched, never encoded again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Final

import trio

from app.media.compress.chunk_encode import ChunkMismatch, ChunkTask, EncodedChunk, encode_chunk
from app.media.compress.chunk_workers import worker_count
from app.media.limits import RunLimits
from app.protocol.errors import ErrorInfo, VcsError
from app.server.registry import Run
from app.server.state import ServerState
from app.server.stores.blob_store import CHUNKS, chunk_key
from app.server.stores.job_store import StoreUnavailable, Task, TransitionRefused

log = logging.getLogger(__name__)

CHUNK_KIND: Final = "chunk"
# The job's node reads its tasks' outcomes at each change of the job, and at least
# this often (a notification lost).
OUTCOME_POLL_S: Final = 2.0
# An idle worker of the job's node looks for the job's queued chunks this often.
IDLE_POLL_S: Final = 1.0
STORE_RETRY_S: Final = 1.0
# Every chunk task at once: the queue spreads them over the nodes' free slots.
ALL_AT_ONCE: Final = 100_000


def chunk_spec(task: ChunkTask, limits: RunLimits) -> dict[str, Any]:
    return {"chunk": task.to_json(), "limits": asdict(limits)}


def slot_threads(state: ServerState) -> int:
    """Encoder threads of a chunk run in one of this node's `--max-jobs` slots."""
    return max(1, (os.cpu_count() or 1) // max(1, state.config.max_jobs))


async def encode_to_store(
    state: ServerState, task: Task, input_path: Path, threads: int, keep_in: Path | None = None
) -> dict[str, Any]:
    """Encode the chunk `task` describes from `input_path` and store it (a link to it
    left in `keep_in`: the job's own directory, when its node encodes it); the outcome
    its job reads: the chunk and its key, or the error that stopped it."""
    spec = task.spec
    chunk = replace(ChunkTask.from_json(spec["chunk"]), src=str(input_path), threads=threads)
    limits = RunLimits(**spec["limits"])
    scratch = state.work.dir / f".{task.job_id}-{task.task_no}.chunk"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        try:
            encoded = await encode_chunk(state.ffmpeg, chunk, scratch, limits)
        except ChunkMismatch as exc:
            return {"mismatch": {"index": exc.index, "why": exc.why}}
        except VcsError as exc:
            return exc.info.to_json()
        key = chunk_key(task.job_id, encoded.path.name)
        if keep_in is not None:
            os.link(encoded.path, keep_in / encoded.path.name)
        started = time.monotonic()
        await state.blobs.put_file(encoded.path, key)
        stored = replace(encoded, node=state.config.node_id)
        return {"chunk": stored.to_json(), "blob": key, "store_s": time.monotonic() - started}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _keep_lease(state: ServerState, task: Task, lost: trio.CancelScope) -> None:
    """Renew the chunk task's lease each third of it; a refused renewal (the job was
    cancelled or ended, or the task lost after a stall) stops the run."""
    lease_s = state.config.task_lease_s
    while True:
        await trio.sleep(lease_s / 3)
        try:
            ours = await state.jobs.store.renew_lease(task, lease_s)
        except StoreUnavailable:
            continue
        if not ours:
            lost.cancel()
            return


async def run_claimed(
    state: ServerState, task: Task, input_path: Path, threads: int, keep_in: Path | None = None
) -> None:
    """One claimed chunk task from encode to its completion; on shutdown it goes back
    to the queue for another node."""
    done = False
    with trio.CancelScope() as lost:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_keep_lease, state, task, lost)
                outcome = await encode_to_store(state, task, input_path, threads, keep_in)
                try:
                    await state.jobs.store.complete_task(task, outcome)
                except TransitionRefused:
                    if "blob" in outcome:
                        await state.blobs.delete(outcome["blob"])
                done = True
                nursery.cancel_scope.cancel()
        finally:
            if not done and not lost.cancel_called:
                with trio.CancelScope(shield=True), contextlib.suppress(StoreUnavailable):
                    await state.jobs.store.return_task(task)


async def run_chunk(run: Run, state: ServerState) -> None:
    """The worker's runner of `chunk` tasks: any node's free slot encodes one chunk of
    another node's job, from its own copy of the job's input."""
    async with state.blobs.local_copy(run.record.input_key, state.work.dir) as input_path:
        await run_claimed(state, run.task, input_path, slot_threads(state))


async def delete_chunks(state: ServerState, job_id: str) -> None:
    """The chunks nodes stored for a job that ended here; a sweep of orphans deletes any
    this misses (the job ended on another node)."""
    for key in await state.blobs.keys(f"{CHUNKS}/{job_id}"):
        try:
            with trio.CancelScope(shield=True):
                await state.blobs.delete(key)
        except Exception as exc:  # the store's own errors (OSError, botocore's)
            log.warning("cannot delete %s now (an orphan sweep will): %s", key, exc)


class QueuedChunks:
    """The ChunkEncoder of a job run in a cluster: chunk tasks on the job store's queue,
    encoded by whichever nodes have room, this one included."""

    in_flight = ALL_AT_ONCE

    def __init__(
        self, state: ServerState, run: Run, input_path: Path, limits: RunLimits, job_dir: Path
    ) -> None:
        self._state = state
        self._run = run
        self._input_path = input_path
        self._limits = limits
        self._job_dir = job_dir
        self._nursery: trio.Nursery | None = None
        self._started = False
        self._outcomes: dict[int, dict[str, Any]] = {}
        self._updated = trio.Event()
        self._counts = {"queued_tasks": 0, "from_earlier_runs": 0}
        self._times = {"queue_s": 0.0, "store_s": 0.0, "fetch_s": 0.0}

    def report(self) -> dict[str, Any]:
        """Tasks queued, those an earlier run had queued (not encoded again), and the
        queue's overheads summed over the chunks: waiting to be claimed and stored
        (`queue_s`: outcome seen minus the encode's time), storing, fetching."""
        times = {name: round(value, 2) for name, value in self._times.items()}
        return {"queue": {**self._counts, **times}}

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[QueuedChunks]:
        """Workers and the watcher run while the block does (started at the first task)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    def _start(self) -> None:
        if self._started or self._nursery is None:
            return
        self._started = True
        self._nursery.start_soon(self._watch)
        workers = worker_count()
        for _ in range(workers):
            self._nursery.start_soon(self._work, max(1, (os.cpu_count() or 1) // workers))

    async def encode(self, task: ChunkTask, directory: Path) -> EncodedChunk:
        self._start()
        store = self._state.jobs.store
        queued_at = time.monotonic()
        try:
            task_no, known = await store.queue_task(
                self._run.task, CHUNK_KIND, task.key, chunk_spec(task, self._limits)
            )
        except TransitionRefused:
            # The job is no longer this run's (cancelled, or taken over after a stall):
            # the cancel, or the refused renewal, is on its way to this run.
            await trio.sleep_forever()
        self._counts["queued_tasks"] += 1
        self._counts["from_earlier_runs"] += known
        while task_no not in self._outcomes:
            updated = self._updated
            await updated.wait()
        outcome = self._outcomes[task_no]
        started = time.monotonic()
        chunk = await self._fetch(outcome, directory)
        self._times["fetch_s"] += time.monotonic() - started
        self._times["store_s"] += float(outcome.get("store_s", 0.0))
        if not known:
            self._times["queue_s"] += max(0.0, started - queued_at - chunk.encode_s)
        return chunk

    async def _fetch(self, outcome: dict[str, Any], directory: Path) -> EncodedChunk:
        if "mismatch" in outcome:
            raise ChunkMismatch(int(outcome["mismatch"]["index"]), str(outcome["mismatch"]["why"]))
        if "error" in outcome:
            info = ErrorInfo.from_json(outcome)
            assert info is not None
            raise VcsError(info.code, info.description, info.solution)
        chunk = EncodedChunk.from_json(outcome["chunk"], directory)
        with contextlib.suppress(OSError):
            if chunk.path.stat().st_size == chunk.size_bytes:
                return chunk  # encoded here, and linked into the job's directory
        partial = directory / f".{chunk.path.name}.part"
        try:
            await self._state.blobs.get_file(str(outcome["blob"]), partial)
            if partial.stat().st_size != chunk.size_bytes:
                raise OSError(f"chunk {chunk.index} came back with another size")
            partial.rename(chunk.path)
        finally:
            partial.unlink(missing_ok=True)
        return chunk

    async def _watch(self) -> None:
        board, store = self._state.jobs.board, self._state.jobs.store
        job_id = self._run.task.job_id
        while True:
            changed = board.job_signal(job_id)
            try:
                self._outcomes = await store.task_outcomes(job_id)
            except StoreUnavailable:
                await trio.sleep(STORE_RETRY_S)
                continue
            self._updated.set()
            self._updated = trio.Event()
            with trio.move_on_after(OUTCOME_POLL_S):
                await changed.wait()

    async def _work(self, threads: int) -> None:
        board, store = self._state.jobs.board, self._state.jobs.store
        lease_s = self._state.config.task_lease_s
        while True:
            queued = board.work_signal()
            try:
                task = await store.claim_task(lease_s, (CHUNK_KIND,), self._run.task.job_id)
            except StoreUnavailable:
                await trio.sleep(STORE_RETRY_S)
                continue
            if task is None:
                with trio.move_on_after(IDLE_POLL_S):
                    await queued.wait()
                continue
            self._job_dir.mkdir(parents=True, exist_ok=True)
            await run_claimed(self._state, task, self._input_path, threads, self._job_dir)
