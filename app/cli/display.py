"""What the CLI shows: progress bars (upload, processing, download) and job reports.

Text from a server goes through `escape` (rich markup would otherwise interpret
`[...]` in it, and an unbalanced tag raises).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from app.client.byte_sizes import figure, human_bytes
from app.client.report_lines import chunk_spread_line
from app.protocol import ErrorInfo

console = Console(stderr=True, highlight=False)


def shown(value: object) -> str:
    """A value from the server, as plain text (never markup)."""
    return escape(str(value))


class Bars:
    """Where progress bars are drawn. rich draws one live display at a time: alone, each
    bar runs its own (and stays on screen when done); a batch's bars join its live area
    under the overall line instead (app/cli/batch_display.py)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    @contextlib.contextmanager
    def showing(self, progress: Progress) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        with progress:
            yield


@contextlib.contextmanager
def transfer_bar(label: str, total: int, bars: Bars) -> Iterator[Callable[[int], None]]:
    """A byte progress bar with rate and ETA; yields the `advance(n)` callback."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task(label, total=total)
    with bars.showing(progress):
        yield lambda n: progress.advance(task, n)


class JobBar:
    """Processing progress (0..1 fraction from `status`) with the server's ETA."""

    def __init__(self, label: str, bars: Bars) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
        )
        self._task = self._progress.add_task(label, total=1.0, detail="queued")
        self._shown = bars.showing(self._progress)

    def __enter__(self) -> JobBar:
        self._shown.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._shown.__exit__(*exc)

    def update(self, status: dict[str, Any]) -> None:
        phase = shown(status.get("phase") or status.get("state") or "")
        eta = figure(status.get("eta_s"))
        detail = phase + (f", ~{eta:.0f} s left" if eta is not None else "")
        completed = figure(status.get("progress")) or 0.0
        self._progress.update(self._task, completed=completed, detail=detail)


def print_error(info: ErrorInfo) -> None:
    console.print(f"[bold red]error[/] ({info.code}): {shown(info.description)}")
    if info.solution:
        console.print(f"  [yellow]→[/] {shown(info.solution)}")


def print_report(report: dict[str, Any]) -> None:
    """Sizes, reduction and the choices the server made for this result."""
    if not report:
        return
    parts = []
    if "input_size" in report and "output_size" in report:
        parts.append(f"{human_bytes(report['input_size'])} → {human_bytes(report['output_size'])}")
    reduction = figure(report.get("reduction"))
    if reduction is not None:
        parts.append(f"{reduction * 100:.1f}% smaller" if reduction >= 0 else "larger")
    for key in ("codec", "crf", "vmaf", "ssim"):
        if report.get(key) is not None:
            parts.append(f"{key} {shown(report[key])}")
    if report.get("width") and report.get("height"):  # resize, aspect, gif, webm
        parts.append(f"{shown(report['width'])}x{shown(report['height'])}")
    streams = report.get("streams")
    dropped = []
    for stream in streams if isinstance(streams, list) else []:  # what became of each
        if not isinstance(stream, dict):
            continue
        what = f"{stream.get('kind')} {stream.get('codec')}"
        if stream.get("action") == "dropped":
            dropped.append(shown(f"{what} ({stream.get('reason')})"))
            continue
        how = f"→ {stream['encoder']}" if stream.get("encoder") else stream.get("action")
        parts.append(shown(f"{what} {how}"))
    if parts:
        console.print("  " + ", ".join(parts))
    if dropped:
        console.print("  not kept: " + "; ".join(dropped))
    for key in ("container_note", "hdr_note"):
        if report.get(key):
            console.print(f"  {shown(report[key])}")
    if report.get("quality_measured_on"):
        target = figure(report.get("target_vmaf"))
        aim = f" (target VMAF {target:g})" if target is not None else ""
        console.print(f"  quality measured on the {shown(report['quality_measured_on'])}{aim}")
    if spread := chunk_spread_line(report):
        console.print(f"  {shown(spread)}")
    if report.get("note"):
        console.print(f"  {shown(report['note'])}")
