"""A compress job in chunks (docs/compression.md, "Chunks"): scene pass, chunk plan,
trials per chunk, CRFs allocated for the whole file's quality, chunks encoded side by
side, joined losslessly with the other streams, scored whole, corrected where short.

Every chunk encode is a ChunkTask (chunk_encode.py): self-contained and serialisable,
so the same job can later hand its tasks to a work queue. Finished chunks and trials
stay in the job's work directory with its manifest (chunk_manifest.py): running the job
again on that directory (`resume_chunked`) redoes only what is missing.

The input is returned as it is (outcome `already_compressed`) as soon as the chunks
encoded so far, with the audio, pass 95 % of its size: the encodes still running are
stopped and the rest never start.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trio

from app.media.capabilities import features_of
from app.media.compress.allocation import (
    ChunkCurve,
    RatePoint,
    allocate,
)
from app.media.compress.chunk_correction import TARGET_BAND_VMAF, corrected_picks
from app.media.compress.chunk_encode import (
    ChunkMismatch,
    ChunkTask,
    EncodedChunk,
    check_same_headers,
)
from app.media.compress.chunk_frames import chunk_frames, video_end_s
from app.media.compress.chunk_job import (
    DEFAULT_OPTIONS,
    ChunkedRuns,
    ChunkingOptions,
    ChunkJob,
    chunked_plan,
)
from app.media.compress.chunk_manifest import ChunkManifest
from app.media.compress.chunk_report import chunked_fields, chunks_fields
from app.media.compress.chunk_runner import ChunkRunner, LocalChunkRunner
from app.media.compress.chunk_scores import score_by_chunk
from app.media.compress.chunk_trials import (
    TrialJob,
    bracketing_crfs,
    curves_by_chunk,
    trial_crfs,
    trial_frames,
    vmaf_scale,
)
from app.media.compress.chunk_workers import (
    StopAll,
    run_side_by_side,
    threads_per_worker,
    worker_count,
)
from app.media.compress.chunks import Chunk, plan_chunks
from app.media.compress.join import join_chunks
from app.media.compress.metric import QualityScore
from app.media.compress.pipeline import (
    KEEP_RATIO,
    CompressOutcome,
    CompressRequest,
    already_compressed,
    compress_file,
)
from app.media.compress.plan import format_crf
from app.media.compress.progress import PhaseReport
from app.media.compress.report import whole_file_fields
from app.media.compress.scenes import scan_scenes
from app.media.fidelity_report import fidelity_report
from app.media.limits import check_decoded_frames
from app.media.runner import Progress


async def compress_chunked(
    request: CompressRequest,
    work_dir: Path,
    on_progress: PhaseReport,
    options: ChunkingOptions = DEFAULT_OPTIONS,
    counters: ChunkedRuns | None = None,
    runner: ChunkRunner | None = None,
) -> CompressOutcome:
    """The job in chunks, its trials and encodes run by `runner` (here, one FFmpeg per
    core, if None); an
    input whose frames a chunk encode does not reproduce (a timeline FFmpeg's encode
    retimes) is compressed in one piece instead, and the report says why
    (`chunked_fallback`)."""
    try:
        return await _compress_in_chunks(request, work_dir, on_progress, options, counters, runner)
    except ChunkMismatch as exc:
        outcome = await compress_file(request, on_progress)
        outcome.report["chunked_fallback"] = exc.reason
        return outcome


async def _compress_in_chunks(
    request: CompressRequest,
    work_dir: Path,
    on_progress: PhaseReport,
    options: ChunkingOptions,
    counters: ChunkedRuns | None,
    runner: ChunkRunner | None,
) -> CompressOutcome:
    started = time.monotonic()
    info = request.info
    check_decoded_frames(info, info.duration_s, request.limits)
    caps = await trio.to_thread.run_sync(features_of, request.ffmpeg)
    plan = chunked_plan(info, request.codec, request.target_vmaf, caps)
    limits = request.limits.for_ffmpeg(info, request.limit_bytes)
    on_progress(Progress(0.0, None), "finding scenes")
    scan = await scan_scenes(
        request.ffmpeg, request.src, plan.picture.index, info.duration_s, limits
    )
    end_s = video_end_s(scan)
    chunks = plan_chunks(
        scan.frame_times_s, scan.scores, end_s, min_s=options.min_s, max_s=options.max_s
    )
    job = ChunkJob(
        request,
        plan,
        limits,
        ChunkManifest.open(work_dir),
        tuple(chunk_frames(scan, c, end_s) for c in chunks),
        scan.offset_s,
        worker_count(options.workers),
        counters if counters is not None else ChunkedRuns(),
        on_progress,
        runner or LocalChunkRunner(request.ffmpeg, limits),
    )
    jobs = [
        TrialJob(
            c.index,
            c.frame_count,
            trial_frames(scan, job.runs[c.index], end_s),
            crf,
            request.src,
            work_dir,
        )
        for c in chunks
        for crf in trial_crfs(plan)
    ]
    trials_from = time.monotonic()
    curves = await _measure_curves(job, jobs, len(chunks), options.floor_gap)
    job.counters.trials_s = time.monotonic() - trials_from
    allocation = allocate(curves, plan.target.vmaf, options.floor_gap)
    audio_bytes = plan.audio_bps * info.duration_s / 8
    report: dict[str, Any] = {
        "codec": plan.video.codec,
        "encoder": plan.video.encoder,
        "preset": plan.video.preset,
        "crf": None,  # one per chunk: see "chunks"
        "chunk_crfs": [float(format_crf(p.crf)) for p in allocation.picks],
        "audio": plan.audio.describe(),
        "predicted_size": round(allocation.bytes + audio_bytes),
        # What is kept and how (orientation, colour, HDR, every stream), as one piece says.
        **fidelity_report(info, plan.result, plan.streams, plan.treatment),
    }
    if allocation.bytes + audio_bytes >= options.skip_predicted_ratio * info.size_bytes:
        report.update(chunked_fields(job.counters, len(chunks), job.workers, job.runner))
        return already_compressed(info, plan, report, started, encoded=False)
    picks = list(allocation.picks)
    keep_below = KEEP_RATIO * info.size_bytes
    accepted: _Attempt | None = None
    attempt: _Attempt | None = None
    target = plan.target.vmaf
    floor = target - options.floor_gap
    for round_ in range(1 + options.max_corrections):
        job.counters.rounds = round_ + 1
        attempt = await _attempt(job, chunks, picks, keep_below, audio_bytes)
        if attempt is None:  # not clearly smaller than the input
            report.update(chunked_fields(job.counters, len(chunks), job.workers, job.runner))
            return already_compressed(info, plan, report, started, encoded=True)
        if attempt.whole >= target and (accepted is None or _better(attempt, accepted, floor)):
            accepted = attempt
        over = attempt.whole - target
        # A chunk measured under the floor is raised even when the whole file meets
        # the target (the floor holds on what was measured, not only on predictions).
        sunk = attempt.lowest < floor
        if (0 <= over <= TARGET_BAND_VMAF and not sunk) or round_ == options.max_corrections:
            break
        better = corrected_picks(
            curves,
            picks,
            attempt.measured,
            target,
            options.floor_gap,
            plan.video.crf_min,
            raise_only=over < 0,
        )
        if better == picks:
            break
        picks = better
    assert attempt is not None
    # The cheapest that met the target with every chunk over the floor, else the
    # cheapest that met the target, else the last.
    final = accepted or attempt
    if final is not attempt:
        await _join(job, final.encoded)
    report.update(whole_file_fields(plan, final.score))
    report.update(chunks_fields(chunks, final.picks, final.measured, final.encoded, plan))
    report.update(chunked_fields(job.counters, len(chunks), job.workers, job.runner, final.encoded))
    report["time_s"] = {
        "trials": round(job.counters.trials_s, 2),
        "encode": round(job.counters.encode_s, 2),
        "total": round(time.monotonic() - started, 2),
    }
    return CompressOutcome(media_type=plan.media_type, report={"outcome": "compressed", **report})


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One round: the picks, their chunks joined, the whole result's score."""

    picks: list[RatePoint]
    encoded: list[EncodedChunk]
    score: QualityScore
    measured: list[float | None]
    whole: float  # on allocation's (VMAF) scale
    size: int

    @property
    def lowest(self) -> float:
        """The lowest chunk's measured score (the whole file's when none was)."""
        return min((m for m in self.measured if m is not None), default=self.whole)


def _better(attempt: _Attempt, than: _Attempt, floor: float) -> bool:
    """Both meet the target: one that keeps every chunk over the floor wins, then the
    smaller."""
    keeps, kept = attempt.lowest >= floor, than.lowest >= floor
    return keeps > kept or (keeps == kept and attempt.size < than.size)


async def _attempt(
    job: ChunkJob,
    chunks: tuple[Chunk, ...],
    picks: list[RatePoint],
    keep_below: float,
    audio_bytes: float,
) -> _Attempt | None:
    """Encode (what is missing), join and score; None when not clearly smaller."""
    try:
        encoded = await _encode_all(job, picks, keep_below - audio_bytes)
    except StopAll:
        return None
    check_same_headers(encoded)
    await _join(job, encoded)
    size = job.request.output.stat().st_size
    if size >= keep_below:
        return None
    job.report(Progress(0.85, None), "measuring")
    request = job.request
    score, measured = await score_by_chunk(
        request.ffmpeg,
        request.output,
        request.src,
        job.plan,
        chunks,
        job.manifest.directory / ".score.log.part",
        duration_s=request.info.duration_s,
        limits=job.limits,
    )
    whole = vmaf_scale(job.plan, score.linear)
    return _Attempt(picks, encoded, score, measured, whole, size)


async def _join(job: ChunkJob, encoded: list[EncodedChunk]) -> None:
    request = job.request
    job.report(Progress(0.8, None), "joining")
    await join_chunks(
        request.ffmpeg,
        encoded,
        request.src,
        job.plan,
        request.output,
        limit_bytes=request.limit_bytes,
        offset_s=job.offset_s,
        duration_s=request.info.duration_s,
        limits=job.limits,
    )


async def _measure_curves(
    job: ChunkJob, jobs: list[TrialJob], chunk_count: int, floor_gap: float
) -> list[ChunkCurve]:
    """Each chunk's points: its tries, then one more where they do not bracket."""
    points = await _run_trials(job, jobs, 0.05, 0.3)
    by_chunk = curves_by_chunk(points, chunk_count)
    first_job = {trial.chunk_index: trial for trial in jobs}
    more = [
        replace(first_job[i], crf=crf)
        for i, chunk_points in enumerate(by_chunk)
        for crf in bracketing_crfs(chunk_points, job.plan, floor_gap)
    ]
    if more:
        by_chunk = curves_by_chunk(
            [*points, *await _run_trials(job, more, 0.35, 0.05)], chunk_count
        )
    return [
        ChunkCurve(run.count, tuple(chunk_points))
        for run, chunk_points in zip(job.runs, by_chunk, strict=True)
    ]


async def _run_trials(
    job: ChunkJob, jobs: list[TrialJob], progress_from: float, progress_share: float
) -> list[tuple[int, RatePoint]]:
    threads = threads_per_worker(job.workers, len(jobs))
    done = 0

    async def one(trial: TrialJob) -> tuple[int, RatePoint]:
        nonlocal done
        key = trial.key(job.plan)
        if (known := job.manifest.trial(key)) is not None:
            point = known
            job.counters.trials_reused += 1
        else:
            point = await job.runner.trial(trial, job.plan, threads)
            await job.manifest.record_trial(key, point)
            job.counters.trial_encodes += 1
        done += 1
        fraction = progress_from + progress_share * done / len(jobs)
        job.report(Progress(fraction, None), "searching")
        return trial.chunk_index, point

    costs = [t.frames.count for t in jobs]
    in_flight = job.runner.in_flight or job.workers
    return await run_side_by_side([functools.partial(one, t) for t in jobs], in_flight, costs)


def _task(job: ChunkJob, index: int, crf: float, threads: int) -> ChunkTask:
    run, plan = job.runs[index], job.plan
    return ChunkTask(
        src=str(job.request.src),
        index=index,
        first_frame=run.first,
        frame_count=run.count,
        seek_s=run.seek_s,
        span_s=run.span_s,
        duration_s=run.duration_s,
        video_index=plan.picture.index,
        prepare=plan.picture.prepare,
        codec_args=tuple(plan.video.video_args(crf, for_mp4=False, treatment=plan.treatment)),
        crf=crf,
        threads=threads,
    )


async def _encode_all(
    job: ChunkJob, picks: list[RatePoint], budget_bytes: float
) -> list[EncodedChunk]:
    """Every chunk at its pick (finished ones from the manifest); StopAll as soon as the
    chunks done so far pass `budget_bytes`."""
    threads = threads_per_worker(job.workers, len(picks))
    tasks = [_task(job, i, pick.crf, threads) for i, pick in enumerate(picks)]
    running = 0
    done = 0
    started = time.monotonic()

    def count(chunk: EncodedChunk) -> EncodedChunk:
        nonlocal running, done
        running += chunk.size_bytes
        done += 1
        job.report(Progress(0.4 + 0.4 * done / len(tasks), None), "encoding")
        if running > budget_bytes:
            raise StopAll()
        return chunk

    async def one(task: ChunkTask) -> EncodedChunk:
        if (known := job.manifest.chunk(task.key)) is not None:
            job.counters.chunks_reused += 1
            return count(known)
        chunk = await job.runner.encode(task, job.manifest.directory)
        await job.manifest.record_chunk(chunk)
        job.counters.chunk_encodes += 1
        job.counters.done_chunks.append(task.index)
        job.counters.encoded_in_round.append((job.counters.rounds, task.index))
        return count(chunk)

    try:
        costs = [t.frame_count for t in tasks]
        in_flight = job.runner.in_flight or job.workers
        return await run_side_by_side([functools.partial(one, t) for t in tasks], in_flight, costs)
    finally:
        job.counters.encode_s += time.monotonic() - started


# Finishing a chunked job from its work directory after a restart is the same job run
# again on it: every chunk and trial its manifest names (with the same settings) is
# reused, only what is missing runs (docs/compression.md, "Resume").
resume_chunked = compress_chunked
