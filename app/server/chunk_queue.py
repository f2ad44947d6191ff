"""A compress job's chunks and trials on the cluster's work queue (docs/scale.md,
"Chunks on the queue"): the job's side.

In a cluster (PostgreSQL and S3), a chunked compress (app/media/compress/
chunked_pipeline.py) hands its trials and chunk encodes to `QueuedChunks`: each becomes
a task in the job store (kind `trial` or `chunk`), named by its key. Any node with a
free `--max-jobs` slot claims one and runs it (chunk_tasks.py). The job's own node
works on the job's tasks too, one worker per core (claiming only that job's tasks: the
job holds one slot there), and fetches each finished chunk for the join.

A node that dies mid-task: its lease runs out and the task is queued again (the third
loss fails the job). The job's node dying: the job is queued again, and its next run
queues the same tasks (same keys): those done are read or fetched, never run again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import trio

from app.media.compress.allocation import RatePoint
from app.media.compress.chunk_encode import ChunkMismatch, ChunkTask, EncodedChunk
from app.media.compress.chunk_trials import TrialJob, measure_trial
from app.media.compress.chunk_workers import threads_per_worker, worker_count
from app.media.compress.plan import CompressPlan
from app.media.limits import RunLimits
from app.protocol.errors import ErrorInfo, VcsError
from app.server.chunk_tasks import (
    CHUNK_KIND,
    KINDS,
    TRIAL_KIND,
    chunk_spec,
    run_claimed,
    trial_spec,
)
from app.server.ops.compress import requested_settings
from app.server.registry import Run
from app.server.state import ServerState
from app.server.stores.job_store import StoreUnavailable, TransitionRefused

# The job's node reads its tasks' outcomes at each change of the job, and at least
# this often (a notification lost).
OUTCOME_POLL_S: Final = 2.0
# An idle worker of the job's node looks for the job's queued tasks this often.
IDLE_POLL_S: Final = 1.0
STORE_RETRY_S: Final = 1.0
# Every task at once: the queue spreads them over the nodes' free slots.
ALL_AT_ONCE: Final = 100_000


class QueuedChunks:
    """The ChunkRunner of a job run in a cluster: its trials and chunk encodes as tasks
    on the job store's queue, run by whichever nodes have room, this one included."""

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
        self._counts = {f"{CHUNK_KIND}_tasks": 0, f"{TRIAL_KIND}_tasks": 0, "from_earlier_runs": 0}
        self._times = {"queue_s": 0.0, "store_s": 0.0, "fetch_s": 0.0}
        self._trial_nodes: dict[str, int] = {}

    def report(self) -> dict[str, Any]:
        """Tasks queued (chunks, trials), those an earlier run had queued (not run
        again), the nodes that ran the trials, and the queue's overheads summed over
        the chunks: waiting to be claimed and stored (`queue_s`: outcome seen minus the
        encode's time), storing, fetching."""
        times = {name: round(value, 2) for name, value in self._times.items()}
        nodes = dict(sorted(self._trial_nodes.items()))
        return {"queue": {**self._counts, **times, "trial_nodes": nodes}}

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
            self._nursery.start_soon(self._work, threads_per_worker(workers, workers))

    async def _outcome(
        self, kind: str, key: str, spec: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Queue the task (unless an earlier run of the job did) and wait for its
        outcome; the outcome, and whether the task was there already."""
        self._start()
        try:
            task_no, known = await self._state.jobs.store.queue_task(
                self._run.task, kind, key, spec
            )
        except TransitionRefused:
            # The job is no longer this run's (cancelled, or taken over after a stall):
            # the cancel, or the refused renewal, is on its way to this run.
            await trio.sleep_forever()
        self._counts[f"{kind}_tasks"] += 1
        self._counts["from_earlier_runs"] += known
        while task_no not in self._outcomes:
            updated = self._updated
            await updated.wait()
        return self._outcomes[task_no], known

    async def encode(self, task: ChunkTask, directory: Path) -> EncodedChunk:
        queued_at = time.monotonic()
        spec = chunk_spec(task, self._limits)
        outcome, known = await self._outcome(CHUNK_KIND, task.key, spec)
        started = time.monotonic()
        chunk = await self._fetch(outcome, directory)
        self._times["fetch_s"] += time.monotonic() - started
        self._times["store_s"] += float(outcome.get("store_s", 0.0))
        if not known:
            self._times["queue_s"] += max(0.0, started - queued_at - chunk.encode_s)
        return chunk

    async def trial(self, trial: TrialJob, plan: CompressPlan, threads: int) -> RatePoint:
        # What the node running it makes the plan from, as the op made this job's.
        codec, target_vmaf = requested_settings(self._run.record.params)
        plan_args = {"codec": codec, "target_vmaf": target_vmaf}
        spec = trial_spec(trial, plan_args, self._limits)
        outcome, _ = await self._outcome(TRIAL_KIND, trial.key(plan), spec)
        if "other_plan" in outcome:  # a node that plans otherwise: measured here instead
            limits = self._limits
            return await measure_trial(self._state.ffmpeg, trial, plan, limits, threads)
        _raise_error(outcome)
        node = str(outcome.get("node", ""))
        self._trial_nodes[node] = self._trial_nodes.get(node, 0) + 1
        point = outcome["point"]
        return RatePoint(float(point["crf"]), float(point["bytes"]), float(point["vmaf"]))

    async def _fetch(self, outcome: dict[str, Any], directory: Path) -> EncodedChunk:
        _raise_error(outcome)
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
                task = await store.claim_task(lease_s, KINDS, self._run.task.job_id)
            except StoreUnavailable:
                await trio.sleep(STORE_RETRY_S)
                continue
            if task is None:
                with trio.move_on_after(IDLE_POLL_S):
                    await queued.wait()
                continue
            self._job_dir.mkdir(parents=True, exist_ok=True)
            await run_claimed(self._state, task, self._input_path, threads, self._job_dir)


def _raise_error(outcome: dict[str, Any]) -> None:
    """The error a task ended with, raised here as the job's."""
    if "mismatch" in outcome:
        raise ChunkMismatch(int(outcome["mismatch"]["index"]), str(outcome["mismatch"]["why"]))
    if "error" in outcome:
        info = ErrorInfo.from_json(outcome)
        assert info is not None
        raise VcsError(info.code, info.description, info.solution)
