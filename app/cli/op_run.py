"""The CLI's end-to-end flow for one op: upload → wait for the job → download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cli.display import JobBar, console, print_report, shown, transfer_bar
from app.client.api import Download, VcsClient
from app.client.workflow import wait_for_job


@dataclass(frozen=True, slots=True)
class RunOptions:
    poll_interval_s: float
    wait: bool
    output: Path | None
    show_progress: bool
    # Replace an existing file instead of saving beside it as `name (1).ext`.
    overwrite: bool = False


async def download_with_bar(
    client: VcsClient, job_id: str, output: Path | None, show_progress: bool, overwrite: bool
) -> Download:
    async with client.session():  # the size, then the file, on one connection
        status = await client.status(job_id)
        size = (status.get("result") or {}).get("size") or 0
        with transfer_bar("download", int(size), show_progress) as advance:
            return await client.download(job_id, output, advance, overwrite=overwrite)


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
    download = await download_with_bar(
        client, job_id, opts.output, opts.show_progress, opts.overwrite
    )
    console.print(f"saved [bold]{shown(str(download.path))}[/]")
    print_report(download.answer.get("report") or {})
    return job_id, status, download
