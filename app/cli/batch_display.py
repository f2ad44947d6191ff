"""What a batch shows: the overall line above the current file's bars, a line per finished
file, and the summary table at the end (all on stderr; `--json` lines go to stdout)."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Column, Table

from app.cli.batch_outcome import FileOutcome, Result
from app.cli.display import Bars, console, shown
from app.client.byte_sizes import human_bytes
from app.tui.jobs import format_duration

_MARKS = {
    Result.DONE: "[green]✓[/]",
    Result.FAILED: "[red]✗[/]",
    Result.CANCELLED: "[yellow]–[/]",
    Result.INTERRUPTED: "[yellow]–[/]",
    Result.NOT_RUN: "[dim]·[/]",
}


class BatchBars(Bars):
    """The batch's live area: `file 2 of 5`, the bytes of the files finished out of all,
    and the time left (from the rate of the finished files), above the current file's
    upload, processing or download bar. Finished bars leave the area."""

    def __init__(self, files: int, total_bytes: int, enabled: bool = True) -> None:
        super().__init__(enabled)
        self._files, self._total_bytes = files, total_bytes
        self._done_bytes = 0
        self._started = time.monotonic()
        self._projected_end: float | None = None
        self._overall = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.fields[bytes]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn(
                "{task.fields[name]}", table_column=Column(no_wrap=True, overflow="ellipsis")
            ),
            console=console,
        )
        self._task = self._overall.add_task(
            "", total=max(1, total_bytes), bytes="", eta="", name=""
        )
        self._rows: list[Progress] = []
        self._live = Live(self, console=console, refresh_per_second=8, transient=True)

    def __enter__(self) -> BatchBars:
        if self.enabled:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._live.stop()

    def __rich__(self) -> RenderableType:
        eta = "ETA …"
        if self._projected_end is not None:
            eta = f"ETA {format_duration(max(0.0, self._projected_end - time.monotonic()))}"
        self._overall.update(self._task, eta=eta)
        return Group(self._overall, *self._rows)

    @contextlib.contextmanager
    def showing(self, progress: Progress) -> Iterator[None]:
        self._rows.append(progress)
        try:
            yield
        finally:
            self._rows.remove(progress)

    def start_file(self, number: int, name: str) -> None:
        done = f"{human_bytes(self._done_bytes)} of {human_bytes(self._total_bytes)}"
        self._overall.update(
            self._task, description=f"file {number} of {self._files}", bytes=done, name=name
        )

    def finish_file(self, size: int) -> None:
        self._done_bytes += size
        self._overall.update(self._task, completed=self._done_bytes)
        if self._done_bytes and self._total_bytes:
            elapsed = time.monotonic() - self._started
            self._projected_end = self._started + elapsed * self._total_bytes / self._done_bytes


def _quality_text(outcome: FileOutcome) -> str:
    quality = outcome.quality
    if quality is None:
        return ""
    metric, value = quality
    return f"{value:.2f}" if metric == "vmaf" else f"ssim {value:.3f}"


def _reduction_text(outcome: FileOutcome) -> str:
    reduction = outcome.reduction
    if reduction is None:
        return ""
    return f"{reduction:.0%}" if reduction >= 0 else f"+{-reduction:.0%}"


def print_finished(outcome: FileOutcome) -> None:
    """One line as each file ends, above the live area."""
    line = f"{_MARKS[outcome.result]} {shown(outcome.path.name)}"
    if outcome.ok:
        parts = [f"{human_bytes(outcome.input_size)} → {human_bytes(outcome.output_size)}"]
        if (reduction := outcome.reduction) is not None:
            parts.append(f"{reduction:.0%} smaller" if reduction >= 0 else "larger")
        if quality := _quality_text(outcome):
            parts.append(quality if quality.startswith("ssim") else f"vmaf {quality}")
        if outcome.time_s is not None:
            parts.append(format_duration(outcome.time_s))
        saved = shown(outcome.saved.name if outcome.saved else "")
        line += f" → [bold]{saved}[/]  " + ", ".join(parts)
    elif outcome.error is not None:
        line += f"  {outcome.result} ({outcome.error.code}): {shown(outcome.error.description)}"
    else:
        line += f"  {str(outcome.result).replace('_', ' ')}"
        if outcome.note:
            line += f": {shown(outcome.note)}"
    console.print(line)


def summary_table(outcomes: Sequence[FileOutcome]) -> Table:
    table = Table(
        Column("File", overflow="fold", ratio=1, min_width=10),
        Column("Result", no_wrap=True),
        Column("In", justify="right", no_wrap=True),
        Column("Out", justify="right", no_wrap=True),
        Column("Saved", justify="right", no_wrap=True),
        Column("VMAF", justify="right", no_wrap=True),
        Column("Time", justify="right", no_wrap=True),
        Column("Error", overflow="fold", ratio=1, min_width=8),
        box=None,
        pad_edge=False,
        header_style="bold",
    )
    for o in outcomes:
        table.add_row(
            shown(o.path.name),
            f"{_MARKS[o.result]} {str(o.result).replace('_', ' ')}",
            human_bytes(o.input_size),
            human_bytes(o.output_size) if o.output_size is not None else "",
            _reduction_text(o),
            _quality_text(o),
            format_duration(o.time_s)
            if o.time_s is not None and o.result is not Result.NOT_RUN
            else "",
            shown(o.error.code) if o.error else "",
        )
    return table


def print_summary(outcomes: Sequence[FileOutcome], elapsed_s: float) -> None:
    """The table, each failure's description and solution, and the totals."""
    console.print()
    console.print(summary_table(outcomes))
    for o in outcomes:
        if o.error is not None:
            console.print(
                f"[red]{shown(o.path.name)}[/] ({o.error.code}): {shown(o.error.description)}"
            )
            if o.error.solution:
                console.print(f"  [yellow]→[/] {shown(o.error.solution)}")
        elif o.note and o.result is Result.INTERRUPTED:
            console.print(f"[yellow]{shown(o.path.name)}[/]: {shown(o.note)}")
    counts = Counter(o.result for o in outcomes)
    tally = ", ".join(f"{n} {str(r).replace('_', ' ')}" for r, n in counts.items())
    done = [o for o in outcomes if o.ok and o.output_size is not None]
    line = f"{len(outcomes)} file{'s' if len(outcomes) != 1 else ''}: {tally}"
    if done:
        size_in = sum(o.input_size for o in done)
        size_out = sum(o.output_size or 0 for o in done)
        change = 1 - size_out / size_in if size_in else 0.0
        how = f"{change:.0%} smaller" if change >= 0 else f"{-change:.0%} larger"
        line += f" · {human_bytes(size_in)} → {human_bytes(size_out)} ({how})"
    console.print(line + f" · {format_duration(elapsed_s)}")
