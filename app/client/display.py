"""What the CLI shows: progress bars (upload, processing, download) and job reports."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from app.protocol import ErrorInfo

console = Console(stderr=True, highlight=False)


def human_bytes(n: object) -> str:
    if not isinstance(n, int | float):
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


@contextlib.contextmanager
def transfer_bar(label: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A byte progress bar with rate and ETA; yields the `advance(n)` callback."""
    if not enabled:
        yield lambda n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class JobBar:
    """Processing progress (0..1 fraction from `status`) with the server's ETA."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self._enabled = enabled
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
        )
        self._label = label
        self._task = self._progress.add_task(label, total=1.0, detail="queued")

    def __enter__(self) -> JobBar:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._progress.stop()

    def update(self, status: dict[str, Any]) -> None:
        phase = str(status.get("phase") or status.get("state") or "")
        eta = status.get("eta_s")
        detail = phase + (f", ~{eta:.0f} s left" if isinstance(eta, int | float) else "")
        progress = status.get("progress")
        completed = float(progress) if isinstance(progress, int | float) else 0.0
        self._progress.update(self._task, completed=completed, detail=detail)


def print_error(info: ErrorInfo) -> None:
    console.print(f"[bold red]error[/] ({info.code}): {info.description}")
    if info.solution:
        console.print(f"  [yellow]→[/] {info.solution}")


def print_report(report: dict[str, Any]) -> None:
    """Sizes, reduction and the choices the server made for this result."""
    if not report:
        return
    parts = []
    if "input_size" in report and "output_size" in report:
        parts.append(f"{human_bytes(report['input_size'])} → {human_bytes(report['output_size'])}")
    reduction = report.get("reduction")
    if isinstance(reduction, int | float):
        parts.append(f"{reduction * 100:.1f}% smaller" if reduction >= 0 else "larger")
    for key in ("codec", "crf", "vmaf", "ssim"):
        if report.get(key) is not None:
            parts.append(f"{key} {report[key]}")
    if report.get("width") and report.get("height"):  # resize, aspect, gif, webm
        parts.append(f"{report['width']}x{report['height']}")
    for stream in report.get("streams") or []:  # convert
        if isinstance(stream, dict):
            how = f"→ {stream['encoder']}" if stream.get("encoder") else str(stream.get("action"))
            parts.append(f"{stream.get('kind')} {stream.get('codec')} {how}")
    if parts:
        console.print("  " + ", ".join(parts))
    if report.get("note"):
        console.print(f"  {report['note']}")
