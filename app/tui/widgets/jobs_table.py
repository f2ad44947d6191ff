"""The jobs table: one row per tracked job, sized to the terminal's width."""

from __future__ import annotations

from typing import ClassVar, Final

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from app.client.byte_sizes import human_bytes
from app.tui.jobs import Step, TrackedJob

# (title, width) of every column but the file name, which takes what is left.
_FIXED_COLUMNS: Final = (("Op", 8), ("State", 11), ("Progress", 8), ("In", 8), ("Out", 8))
_SAVED_COLUMN: Final = ("Saved", 5)
_MIN_FILE_WIDTH: Final = 10
# Each cell has one column of padding on each side, and the vertical scrollbar takes two.
_CHROME: Final = 2 * (len(_FIXED_COLUMNS) + 2) + 2


def _state_text(job: TrackedJob) -> Text:
    return Text(str(job.step), style=f"job-{job.step}")


class JobsTable(DataTable[str | Text]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "screen.download", "Download"),
        Binding("x", "screen.cancel_job", "Cancel job"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._jobs: dict[str, TrackedJob] = {}
        self._file_width = 16

    def on_mount(self) -> None:
        self._build_columns()

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width - sum(w for _, w in (*_FIXED_COLUMNS, _SAVED_COLUMN)) - _CHROME
        width = max(_MIN_FILE_WIDTH, width)
        if width != self._file_width:
            self._file_width = width
            cursor = self.cursor_row
            self.clear(columns=True)
            self._build_columns()
            for job in self._jobs.values():
                self.add_row(*self._cells(job), key=job.key)
            if self.row_count:
                self.move_cursor(row=min(cursor, self.row_count - 1))

    def _build_columns(self) -> None:
        self.add_column("File", width=self._file_width, key="file")
        for title, width in _FIXED_COLUMNS:
            self.add_column(title, width=width, key=title.lower())
        self.add_column(_SAVED_COLUMN[0], width=_SAVED_COLUMN[1], key="saved")

    def _cells(self, job: TrackedJob) -> tuple[str | Text, ...]:
        name = job.path.name
        if len(name) > self._file_width:
            name = name[: self._file_width - 1] + "…"
        output = human_bytes(job.output_size) if job.output_size is not None else ""
        return (
            name,
            job.op,
            _state_text(job),
            job.progress_text(),
            human_bytes(job.input_size) if job.input_size is not None else "",
            output,
            job.reduction_text(),
        )

    def show(self, job: TrackedJob) -> None:
        """Add the job's row, or bring it up to date."""
        cells = self._cells(job)
        if job.key not in self._jobs:
            self._jobs[job.key] = job
            self.add_row(*cells, key=job.key)
            return
        for column, value in zip(self.columns, cells, strict=True):
            self.update_cell(job.key, column, value)

    def selected_job(self) -> TrackedJob | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._jobs.get(key) if key is not None else None

    def jobs_in(self, *steps: Step) -> list[TrackedJob]:
        return [job for job in self._jobs.values() if job.step in steps]
