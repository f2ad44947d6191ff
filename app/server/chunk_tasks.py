"""What a node does with one claimed task of a chunked compress (docs/scale.md, "Chunks
on the queue"): a `chunk` (encode it, check it, store it under chunks/<job>/) or a
`trial` (encode the chunk's sample at one CRF and score it: a rate point). Either runs
in any node's free `--max-jobs` slot (`run_chunk_task`, a worker TASK_RUNNERS entry),
from that node's copy of the job's input, or in a worker of the job's own node
(chunk_queue.py); its outcome goes to the job store for the job's run to read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Final

import trio

from app.media.capabilities import features_of
from app.media.compress.allocation import RatePoint
from app.media.compress.chunk_encode import ChunkMismatch, ChunkTask, encode_chunk
from app.media.compress.chunk_job import chunked_plan
from app.media.compress.chunk_trials import TrialJob, measure_trial
from app.media.compress.plan import CompressPlan
from app.media.limits import RunLimits
from app.media.upload_probe import probe_upload
from app.protocol.errors import VcsError
from app.server.registry import Run
from app.server.state import ServerState
from app.server.stores.blob_store import CHUNKS, chunk_key
from app.server.stores.job_store import StoreUnavailable, Task, TransitionRefused

log = logging.getLogger(__name__)

CHUNK_KIND: Final = "chunk"
TRIAL_KIND: Final = "trial"
KINDS: Final = (CHUNK_KIND, TRIAL_KIND)
# Plans this node worked out for trials of other nodes' jobs, the latest few.
PLANS_KEPT: Final = 8
_plans: dict[str, CompressPlan] = {}


def trial_spec(trial: TrialJob, plan_args: dict[str, Any], limits: RunLimits) -> dict[str, Any]:
    """A trial for any node: its frames and CRF, what its plan is made from (the job's
    codec and target; the node probes its own copy of the input), the rlimits."""
    return {"trial": trial.to_json(), "plan": plan_args, "limits": asdict(limits)}


def point_outcome(point: RatePoint, node: str) -> dict[str, Any]:
    return {"point": {"crf": point.crf, "bytes": point.bytes, "vmaf": point.vmaf}, "node": node}


async def plan_for(state: ServerState, task: Task, input_path: Path) -> CompressPlan:
    """The job's chunked plan as this node makes it from its copy of the input."""
    if (known := _plans.get(task.job_id)) is not None:
        return known
    info = await probe_upload(input_path, state.config.media_limits)
    caps = await trio.to_thread.run_sync(features_of, state.ffmpeg)
    args = task.spec["plan"]
    plan = chunked_plan(info, args.get("codec"), float(args["target_vmaf"]), caps)
    while len(_plans) >= PLANS_KEPT:
        _plans.pop(next(iter(_plans)))
    _plans[task.job_id] = plan
    return plan


async def measure_for_queue(
    state: ServerState, task: Task, input_path: Path, threads: int
) -> dict[str, Any]:
    """Run the trial `task` describes; its outcome: the rate point, `other_plan` when
    this node's plan makes another trial than the job's node asked for (a node of
    another version: the job's node runs it itself), or the error that stopped it."""
    scratch = state.work.dir / f".{task.job_id}-{task.task_no}.trial"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        plan = await plan_for(state, task, input_path)
        trial = TrialJob.from_json(task.spec["trial"], input_path, scratch)
        if trial.key(plan) != task.spec["key"]:
            return {"other_plan": state.config.node_id}
        point = await measure_trial(
            state.ffmpeg, trial, plan, RunLimits(**task.spec["limits"]), threads
        )
    except VcsError as exc:
        return exc.info.to_json()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return point_outcome(point, state.config.node_id)


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
    """Renew the task's lease each third of it; a refused renewal (the job was
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
    """One claimed task (chunk or trial) from its run to its completion; on shutdown it
    goes back to the queue for another node."""
    done = False
    with trio.CancelScope() as lost:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_keep_lease, state, task, lost)
                if task.kind == TRIAL_KIND:
                    outcome = await measure_for_queue(state, task, input_path, threads)
                else:
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


async def run_chunk_task(run: Run, state: ServerState) -> None:
    """The worker's runner of `chunk` and `trial` tasks: any node's free slot runs one
    task of another node's job, from this node's copy of the job's input (one for all
    the job's tasks here: input_copies.py)."""
    async with state.input_copies.copy_of(run.record.input_key) as input_path:
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
