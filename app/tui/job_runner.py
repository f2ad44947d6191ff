"""The TUI's network work, as trio tasks on the guest loop: the upload queue, status
polling, downloads and cancels. It changes `TrackedJob`s and tells the app through
`RunnerEvents`; it never touches a widget, so it may outlive the screen during shutdown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

import trio

from app.client.address import ServerAddress
from app.client.api import VcsClient
from app.client.errors import ConnectionFailed, ServerError
from app.client.report_lines import chunk_spread_line
from app.client.workflow import wait_for_job
from app.protocol import ErrorCode, ErrorInfo, VcsError
from app.tui.jobs import Step, TrackedJob, TransferMeter

# Progress of a transfer is shown at most this often (each chunk would flood the UI).
PROGRESS_EVERY_S: Final = 0.1
# After a broken connection, a watched job is asked about again after at most this long.
RETRY_WATCH_S: Final = 10.0


class RunnerEvents(Protocol):
    def job_changed(self, job: TrackedJob) -> None: ...

    def problem(self, info: ErrorInfo, about: str) -> None: ...

    def notice(self, text: str) -> None: ...


class _StatusToJob:
    """`wait_for_job`'s listener: each status answer goes into the job and the table."""

    def __init__(self, job: TrackedJob, events: RunnerEvents) -> None:
        self._job, self._events = job, events

    def update(self, status: dict[str, Any]) -> None:
        self._job.apply_status(status)
        self._events.job_changed(self._job)


class JobRunner:
    def __init__(self, client: VcsClient, poll_interval_s: float, events: RunnerEvents) -> None:
        self.client = client
        self.poll_interval_s = poll_interval_s
        self.events = events
        self.jobs: list[TrackedJob] = []
        self._queue_in, self._queue_out = trio.open_memory_channel[TrackedJob](math.inf)
        self._refresh = trio.Event()
        # Per job: the scope of the transfer in flight (upload or download), to cancel it.
        self._transfers: dict[str, trio.CancelScope] = {}

    # Entry points; each runs in trio (start them with TrioGuest.start_soon/run_sync_soon).

    async def run(self) -> None:
        """The long-lived tasks: the upload queue and the poll loop."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_queue)
            nursery.start_soon(self._poll_loop)

    def submit(self, jobs: list[TrackedJob]) -> None:
        for job in jobs:
            job.server = str(self.client.address)
            self.jobs.append(job)
            self._queue_in.send_nowait(job)
            self.events.job_changed(job)

    def adopt(self, job: TrackedJob) -> None:
        """A job remembered from an earlier run: polled with the others."""
        self.jobs.append(job)
        self.events.job_changed(job)

    def request_refresh(self) -> None:
        self._refresh.set()
        self._refresh = trio.Event()

    async def cancel(self, job: TrackedJob) -> None:
        scope = self._transfers.get(job.key)
        if scope is not None:
            scope.cancel()  # an upload (the server keeps nothing) or a download (no file)
        elif job.step is Step.WAITING:
            job.step = Step.CANCELLED
            self.events.job_changed(job)
        elif job.step.on_server and job.job_id is not None:
            try:
                job.apply_status(await self._client_for(job).cancel(job.job_id))
            except VcsError as exc:
                self._failed(job, exc.info)
            else:
                job.step = Step.CANCELLED
                self.events.job_changed(job)

    async def download(self, job: TrackedJob, folder: Path) -> None:
        if job.job_id is None or job.step is not Step.DONE or job.key in self._transfers:
            return
        size = job.output_size or 0
        job.step, job.transfer = Step.DOWNLOADING, TransferMeter(size)
        self.events.job_changed(job)
        try:
            with trio.CancelScope() as scope:
                self._transfers[job.key] = scope
                got = await self._client_for(job).download(job.job_id, folder, self._advance(job))
                job.saved_path, job.step = got.path, Step.SAVED
                self.events.notice(f"Saved {got.path}")
        except VcsError as exc:
            job.step = Step.EXPIRED if exc.code is ErrorCode.JOB_NOT_FOUND else Step.DONE
            self.events.problem(exc.info, f"Download of {job.path.name}")
        except OSError as exc:
            job.step = Step.DONE
            self.events.problem(_cannot_write(folder, exc), f"Download of {job.path.name}")
        finally:
            del self._transfers[job.key]
            job.transfer = None
            if job.step is Step.DOWNLOADING:  # cancelled: the result is still on the server
                job.step = Step.DONE
            self.events.job_changed(job)

    # The queue: the server runs one job per client IP (docs/operations.md): uploads go one by one.

    async def _run_queue(self) -> None:
        async for job in self._queue_out:
            if job.step is not Step.WAITING:  # cancelled while waiting
                continue
            # One connection (one key exchange) for the job's upload and its long polls.
            async with self.client.session():
                if await self._upload(job):
                    await self._watch(job)

    async def _upload(self, job: TrackedJob) -> bool:
        job.step = Step.HASHING
        self.events.job_changed(job)
        try:
            job.input_size = job.path.stat().st_size
            job.transfer = TransferMeter(job.input_size)
            with trio.CancelScope() as scope:
                self._transfers[job.key] = scope
                accepted = await self.client.upload(
                    job.op, job.path, job.params, self._advance(job)
                )
                job.job_id = str(accepted["job_id"])
                job.step = Step.QUEUED
            if scope.cancelled_caught:
                job.step = Step.CANCELLED
        except OSError as exc:
            self._failed(job, _unreadable_local(job.path, exc))
        except VcsError as exc:
            self._failed(job, exc.info)
        finally:
            self._transfers.pop(job.key, None)
            job.transfer = None
            if job.step in (Step.HASHING, Step.UPLOADING):  # the app is shutting down
                job.step = Step.CANCELLED
            self.events.job_changed(job)
        return job.step is Step.QUEUED

    async def _watch(self, job: TrackedJob) -> None:
        """Follow the job until it ends, with the long poll; survive broken connections."""
        assert job.job_id is not None
        while job.step in (Step.QUEUED, Step.RUNNING):
            try:
                listener = _StatusToJob(job, self.events)
                client = self._client_for(job)
                status = await wait_for_job(client, job.job_id, self.poll_interval_s, listener)
            except ConnectionFailed as exc:
                self.events.problem(exc.info, f"Status of {job.path.name}")
                with trio.move_on_after(min(RETRY_WATCH_S, self.poll_interval_s)):
                    await self._refresh.wait()
                continue
            except ServerError as exc:
                self._failed(job, exc.info, Step.EXPIRED)
                return
            if status.get("state") == "done":
                spread = chunk_spread_line(job.result)
                also = f" ({spread})" if spread else ""
                self.events.notice(f"{job.path.name}: {job.op} done{also} — press d to download")
            elif status.get("state") == "failed" and job.error is not None:
                self.events.problem(job.error, f"{job.op} of {job.path.name}")

    # Polling: every job the server holds, on the interval and on demand.

    async def _poll_loop(self) -> None:
        while True:
            await self._refresh_all()
            with trio.move_on_after(self.poll_interval_s):
                await self._refresh.wait()

    async def _refresh_all(self) -> None:
        async with self.client.session():  # one connection for the whole round
            await self._refresh_each()

    async def _refresh_each(self) -> None:
        for job in list(self.jobs):
            if not job.step.on_server or job.job_id is None or job.key in self._transfers:
                continue
            try:
                status = await self._client_for(job).status(job.job_id)
            except ConnectionFailed as exc:
                self.events.problem(exc.info, "Refresh")
                return
            except ServerError as exc:
                self._failed(job, exc.info, Step.EXPIRED)
                continue
            job.apply_status(status)
            self.events.job_changed(job)

    def _client_for(self, job: TrackedJob) -> VcsClient:
        """Jobs stay on the server they were sent to, even after the user switches."""
        if not job.server or job.server == str(self.client.address):
            return self.client
        return VcsClient(ServerAddress.parse(job.server))

    def _advance(self, job: TrackedJob) -> Callable[[int], None]:
        last_shown = 0.0

        def advance(n: int) -> None:
            nonlocal last_shown
            assert job.transfer is not None
            job.transfer.advance(n)
            if job.step is Step.HASHING:
                job.step = Step.UPLOADING
            now = time.monotonic()
            if now - last_shown >= PROGRESS_EVERY_S or job.transfer.fraction >= 1:
                last_shown = now
                self.events.job_changed(job)

        return advance

    def _failed(self, job: TrackedJob, info: ErrorInfo, step: Step = Step.FAILED) -> None:
        job.error, job.step = info, step
        self.events.job_changed(job)
        self.events.problem(info, f"{job.op} of {job.path.name}")


def _unreadable_local(path: Path, exc: OSError) -> ErrorInfo:
    return ErrorInfo(
        ErrorCode.INTERNAL,
        f"Cannot read {path}: {exc.strerror or exc}.",
        "Check that the file exists and that you may read it.",
    )


def _cannot_write(folder: Path, exc: OSError) -> ErrorInfo:
    return ErrorInfo(
        ErrorCode.INTERNAL,
        f"Cannot save into {folder}: {exc.strerror or exc}.",
        "Pick a folder you may write to, with enough free space.",
    )
