"""The CLI's end-to-end flow for one op: upload → wait for the job → download."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import trio

from app.client.api import Download, VcsClient
from app.client.display import JobBar, console, print_report, transfer_bar

TERMINAL_STATES = ("done", "failed", "cancelled")
# Never poll faster than this, even if a server ignores `wait_s` and answers at once.
MIN_POLL_GAP_S = 1.0


class StatusListener(Protocol):
    """Anything shown a job's status as it changes: the CLI's JobBar, the TUI's board."""

    def update(self, status: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    poll_interval_s: float
    wait: bool
    output: Path | None
    show_progress: bool


async def wait_for_job(
    client: VcsClient, job_id: str, poll_interval_s: float, bar: StatusListener | None = None
) -> dict[str, Any]:
    """Poll `status` until the job ends. Uses the long poll (`wait_s`) so a state change
    shows at once; against a server that answers at once it still polls only every
    `poll_interval_s` (SPEC §2.1: default 60 s) while nothing changes."""
    async with client.session():
        return await _poll(client, job_id, poll_interval_s, bar)


async def _poll(
    client: VcsClient, job_id: str, poll_interval_s: float, bar: StatusListener | None
) -> dict[str, Any]:
    last: tuple[object, object] | None = None
    while True:
        asked = time.monotonic()
        status = await client.status(job_id, wait_s=poll_interval_s)
        if bar is not None:
            bar.update(status)
        if status.get("state") in TERMINAL_STATES:
            return status
        now = (status.get("state"), status.get("progress"))
        if now == last:
            gap = poll_interval_s if time.monotonic() - asked < MIN_POLL_GAP_S else 0
            await trio.sleep(max(0.0, gap - (time.monotonic() - asked)))
        last = now


async def download_with_bar(
    client: VcsClient, job_id: str, output: Path | None, show_progress: bool
) -> Download:
    async with client.session():
        status = await client.status(job_id)
        size = int((status.get("result") or {}).get("size") or 0)
        with transfer_bar("download", size, show_progress) as advance:
            return await client.download(job_id, output, advance)


async def run_op(
    client: VcsClient, op: str, path: Path, params: dict[str, Any], opts: RunOptions
) -> tuple[str, dict[str, Any] | None, Download | None]:
    """Returns (job_id, final status or None with --no-wait, download or None).

    The whole job runs on one connection and one key exchange (VcsClient.session)."""
    async with client.session():
        return await _run_op(client, op, path, params, opts)


async def _run_op(
    client: VcsClient, op: str, path: Path, params: dict[str, Any], opts: RunOptions
) -> tuple[str, dict[str, Any] | None, Download | None]:
    size = path.stat().st_size
    with transfer_bar("upload", size, opts.show_progress) as advance:
        accepted = await client.upload(op, path, params, advance)
    job_id = str(accepted["job_id"])
    console.print(f"job [bold]{job_id}[/] accepted ({op})")
    if not opts.wait:
        return job_id, None, None
    with JobBar(op, opts.show_progress) as bar:
        status = await wait_for_job(client, job_id, opts.poll_interval_s, bar)
    if status.get("state") != "done":
        return job_id, status, None
    download = await download_with_bar(client, job_id, opts.output, opts.show_progress)
    console.print(f"saved [bold]{download.path}[/]")
    print_report(download.answer.get("report") or {})
    return job_id, status, download
