"""The CLI's end-to-end flow for one file: upload → wait for the job → download.

One flow for `vcs OP FILE` and for each file of a batch. A run that is cancelled (Ctrl-C)
while its job is on the server cancels that job too: it would otherwise keep running
and hold the address's one job slot (docs/operations.md), refusing the user's next command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trio

from app.cli.display import Bars, JobBar, console, print_report, shown, transfer_bar
from app.client.api import Download, VcsClient
from app.client.workflow import wait_for_job
from app.protocol import VcsError

# How long an interrupted run waits for the server to confirm a cancel.
CANCEL_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class RunOptions:
    poll_interval_s: float
    wait: bool
    output: Path | None
    bars: Bars
    # Replace an existing file instead of saving beside it as `name (1).ext`.
    overwrite: bool = False
    # Say each step (accepted, saved, the report) as it happens; a batch says it per file.
    announce: bool = True
    # `output` names a folder, made when the first result arrives (a batch's -o).
    output_is_folder: bool = False


class Phase:
    WAITING = "waiting"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    DOWNLOADING = "downloading"
    FINISHED = "finished"


@dataclass
class FileRun:
    """How far one file got: read after the run, or after an interruption."""

    path: Path
    phase: str = Phase.WAITING
    job_id: str | None = None
    status: dict[str, Any] | None = None
    download: Download | None = None
    # Set when an interrupted run's job was cancelled on the server (True) or could not
    # be (False); None when there was nothing to cancel.
    cancelled_on_server: bool | None = None
    started_s: float = field(default_factory=time.monotonic)
    ended_s: float | None = None

    @property
    def elapsed_s(self) -> float:
        return (self.ended_s or time.monotonic()) - self.started_s


async def download_with_bar(
    client: VcsClient, job_id: str, output: Path | None, bars: Bars, overwrite: bool
) -> Download:
    async with client.session():  # the size, then the file, on one connection
        status = await client.status(job_id)
        size = (status.get("result") or {}).get("size") or 0
        with transfer_bar("download", int(size), bars) as advance:
            return await client.download(job_id, output, advance, overwrite=overwrite)


async def run_op(
    client: VcsClient, op: str, run: FileRun, params: dict[str, Any], opts: RunOptions
) -> None:
    """Upload `run.path` for `op`, follow the job and download its result, recording each
    step in `run` (no status or download with `opts.wait` off). The whole job runs on
    one connection and one key exchange (VcsClient.session)."""
    try:
        async with client.session():
            await _run_steps(client, op, run, params, opts)
    finally:
        run.ended_s = time.monotonic()


async def _run_steps(
    client: VcsClient, op: str, run: FileRun, params: dict[str, Any], opts: RunOptions
) -> None:
    run.started_s = time.monotonic()
    size = run.path.stat().st_size
    run.phase = Phase.UPLOADING
    with transfer_bar("upload", size, opts.bars) as advance:
        accepted = await client.upload(op, run.path, params, advance)
    run.job_id = job_id = str(accepted["job_id"])
    if opts.announce:
        console.print(f"job [bold]{job_id}[/] accepted ({op})")
    if not opts.wait:
        run.phase = Phase.FINISHED
        return
    run.phase = Phase.PROCESSING
    try:
        with JobBar(op, opts.bars) as bar:
            run.status = await wait_for_job(client, job_id, opts.poll_interval_s, bar)
    except trio.Cancelled:
        run.cancelled_on_server = await _cancel_quietly(client, job_id)
        raise
    if run.status.get("state") != "done":
        run.phase = Phase.FINISHED
        return
    run.phase = Phase.DOWNLOADING
    if opts.output is not None and opts.output_is_folder:
        opts.output.mkdir(parents=True, exist_ok=True)
    run.download = await download_with_bar(client, job_id, opts.output, opts.bars, opts.overwrite)
    run.phase = Phase.FINISHED
    if opts.announce:
        console.print(f"saved [bold]{shown(str(run.download.path))}[/]", soft_wrap=True)
        print_report(run.download.answer.get("report") or {})


async def _cancel_quietly(client: VcsClient, job_id: str) -> bool:
    """Cancel the job whatever cancelled us, within CANCEL_TIMEOUT_S; whether it worked."""
    with trio.CancelScope(shield=True), trio.move_on_after(CANCEL_TIMEOUT_S):
        try:
            await client.cancel(job_id)
        except VcsError:
            return False
        return True
    return False
