"""Live transfer bars: one line per upload or download in flight (bytes, rate, ETA)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from app.tui.jobs import Step, TrackedJob


class TransferLine(Horizontal):
    def __init__(self, job: TrackedJob) -> None:
        super().__init__(classes="transfer-line")
        self.job = job
        # Held here, not queried: progress may arrive before the line is composed.
        self._file_label = Label(classes="transfer-name")
        self._progress_bar = ProgressBar(total=1.0, show_eta=False, classes="transfer-bar")
        self._detail_label = Label(classes="transfer-detail")

    def compose(self) -> ComposeResult:
        yield self._file_label
        yield self._progress_bar
        yield self._detail_label

    def on_mount(self) -> None:
        self.update_from_job()  # what arrived before the children were mounted

    def update_from_job(self) -> None:
        if not self.query(".transfer-name"):
            return  # mounted but not composed yet: on_mount fills the line in
        job, meter = self.job, self.job.transfer
        arrow = "↓" if job.step is Step.DOWNLOADING else "↑"
        self._file_label.update(f"{arrow} {job.path.name}")
        if meter is None or job.step is Step.HASHING:  # SHA-256 first: nothing sent yet
            self._progress_bar.update(progress=0)
            self._detail_label.update("checking the file…")
            return
        self._progress_bar.update(progress=meter.fraction)
        self._detail_label.update(meter.describe())


class TransferPanel(Vertical):
    """Hidden while nothing moves."""

    def show(self, job: TrackedJob) -> None:
        moving = job.step in (Step.HASHING, Step.UPLOADING, Step.DOWNLOADING)
        lines = list(self.query(TransferLine))
        line = next((w for w in lines if w.job is job), None)
        if moving and line is None:
            self.mount(TransferLine(job))
        elif moving and line is not None:
            line.update_from_job()
        elif line is not None:
            line.remove()
        self.set_class(moving or any(other is not line for other in lines), "-busy")
