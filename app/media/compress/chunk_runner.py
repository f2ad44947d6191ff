"""Who runs a chunked job's tasks — its trials and its chunk encodes: this process
(`LocalChunkRunner`: one FFmpeg per core), or a work queue any node takes them from
(the server's, in a cluster: app/server/chunk_queue.py). Both kinds of task are
self-contained and serialisable (TrialJob, ChunkTask), so either runner will do."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from app.media.compress.allocation import RatePoint
from app.media.compress.chunk_encode import ChunkTask, EncodedChunk, encode_chunk
from app.media.compress.chunk_trials import TrialJob, measure_trial
from app.media.compress.plan import CompressPlan
from app.media.limits import RunLimits


class ChunkRunner(Protocol):
    """`encode` returns the verified chunk as a file in `directory`, `trial` the chunk's
    rate point at the trial's CRF; either raises a VcsError (ChunkMismatch among them)
    when its task cannot be done."""

    @property
    def in_flight(self) -> int | None:
        """How many tasks to hand over at once; None: one per worker of the job."""
        ...

    async def encode(self, task: ChunkTask, directory: Path) -> EncodedChunk: ...

    async def trial(self, trial: TrialJob, plan: CompressPlan, threads: int) -> RatePoint: ...

    def report(self) -> dict[str, Any]:
        """What the job's report says of the runner (a queue's counts and overheads)."""
        ...


class LocalChunkRunner:
    """Tasks run here, as FFmpeg children of this process."""

    in_flight = None

    def __init__(self, ffmpeg: str, limits: RunLimits) -> None:
        self.ffmpeg = ffmpeg
        self.limits = limits

    async def encode(self, task: ChunkTask, directory: Path) -> EncodedChunk:
        return await encode_chunk(self.ffmpeg, task, directory, self.limits)

    async def trial(self, trial: TrialJob, plan: CompressPlan, threads: int) -> RatePoint:
        return await measure_trial(self.ffmpeg, trial, plan, self.limits, threads)

    def report(self) -> dict[str, Any]:
        return {}
