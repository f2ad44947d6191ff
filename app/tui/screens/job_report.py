"""One job's report (`enter` on a job): sizes, quality and how it was measured, codec and
CRF, streams in → out, phases and their times, the error with its solution. Follows
the job while it is open (the app passes every change on)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from app.tui.job_report import Row, report_rows
from app.tui.jobs import TrackedJob


class ReportBody(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"report-body--label", "report-body--error"}

    def show(self, rows: list[Row]) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(
            style=self.get_component_rich_style("report-body--label", partial=True),
            no_wrap=True,
        )
        grid.add_column(overflow="fold")
        error = self.get_component_rich_style("report-body--error", partial=True)
        for name, value in rows:
            grid.add_row(name, Text(value, style=error if name in ("Error", "Solution") else ""))
        self.update(grid)


class JobReportScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss(None)", "Close report"),
    ]

    def __init__(self, job: TrackedJob) -> None:
        super().__init__()
        self.job = job
        self.rows: list[Row] = report_rows(job)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="report-dialog"):
            yield Label(f"{self.job.op} · {self.job.path.name}", classes="dialog-title")
            with VerticalScroll(id="report-scroll"):
                yield ReportBody(id="report-body")
            yield Label("↑↓ scroll · esc close", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(ReportBody).show(self.rows)
        self.query_one("#report-scroll").focus()

    def job_changed(self, job: TrackedJob) -> None:
        if job is self.job and self.is_mounted:
            self.rows = report_rows(job)
            self.query_one(ReportBody).show(self.rows)

    def text(self) -> str:
        """The report as plain text (for tests and logs)."""
        return "\n".join(f"{name}: {value}" for name, value in self.rows)
