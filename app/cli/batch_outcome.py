"""What became of each file of a batch: one row of the summary, one line of `--json`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cli.op_run import FileRun, Phase
from app.client.byte_sizes import figure
from app.protocol import ErrorInfo


class Result(enum.StrEnum):
    DONE = "done"  # the result is saved
    FAILED = "failed"  # refused, the job failed, or the transfer broke
    CANCELLED = "cancelled"  # someone cancelled the job on the server
    INTERRUPTED = "interrupted"  # Ctrl-C while this file was going
    NOT_RUN = "not_run"  # after an interruption, or after the server became unreachable


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: Path
    result: Result
    input_size: int
    job_id: str | None = None
    saved: Path | None = None
    time_s: float | None = None
    error: ErrorInfo | None = None
    # The server's job report (sizes, codec, CRF, VMAF, streams; docs/operations.md).
    report: dict[str, Any] = field(default_factory=dict)
    # What an interrupted file left on the server, in words.
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.result is Result.DONE

    @property
    def output_size(self) -> int | None:
        size = self.report.get("output_size")
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    @property
    def reduction(self) -> float | None:
        """1 - out/in, as the server reports it (0.75: a quarter of the size)."""
        return figure(self.report.get("reduction"))

    @property
    def quality(self) -> tuple[str, float] | None:
        """("vmaf", 93.2), or ("ssim", 0.981) where the server had no libvmaf."""
        for metric in ("vmaf", "ssim"):
            value = figure(self.report.get(metric))
            if value is not None:
                return metric, value
        return None

    def to_json(self) -> dict[str, Any]:
        """One `--json` line: every field present, null where it does not apply."""
        quality = self.quality
        return {
            "file": str(self.path),
            "result": str(self.result),
            "job_id": self.job_id,
            "path": str(self.saved) if self.saved else None,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "reduction": self.reduction,
            "vmaf": quality[1] if quality and quality[0] == "vmaf" else None,
            "ssim": quality[1] if quality and quality[0] == "ssim" else None,
            "time_s": round(self.time_s, 2) if self.time_s is not None else None,
            "error": self.error.to_json()["error"] if self.error else None,
            "note": self.note or None,
            "report": self.report,
        }


def finished_outcome(run: FileRun, size: int) -> FileOutcome:
    """A run that ended by itself: its job done (and downloaded), failed or cancelled."""
    status = run.status or {}
    state = status.get("state")
    error = ErrorInfo.from_json({"error": status["error"]}) if status.get("error") else None
    if run.download is not None:
        report = run.download.answer.get("report")
        return FileOutcome(
            run.path,
            Result.DONE,
            size,
            run.job_id,
            run.download.path,
            run.elapsed_s,
            report=report if isinstance(report, dict) else {},
        )
    result = Result.CANCELLED if state == "cancelled" else Result.FAILED
    return FileOutcome(run.path, result, size, run.job_id, None, run.elapsed_s, error)


def failed_outcome(run: FileRun, size: int, error: ErrorInfo) -> FileOutcome:
    """A run that raised: refused by the server, the connection broke, a local file."""
    return FileOutcome(run.path, Result.FAILED, size, run.job_id, None, run.elapsed_s, error)


def interrupted_outcome(run: FileRun, size: int) -> FileOutcome:
    """The file that was going when the user pressed Ctrl-C, with what it left behind."""
    job = run.job_id
    if run.phase == Phase.UPLOADING:
        note = "stopped during the upload (the server keeps no partial upload)"
    elif run.phase == Phase.PROCESSING and run.cancelled_on_server:
        note = f"job {job} cancelled on the server"
    elif run.phase == Phase.PROCESSING:
        note = f"job {job} may still run on the server: `vcs cancel {job}`"
    elif run.phase == Phase.DOWNLOADING:
        note = (
            "stopped during the download; no partial file kept, the result stays on the "
            f"server for its retention time: `vcs download {job}`"
        )
    else:
        note = "not started"
    return FileOutcome(run.path, Result.INTERRUPTED, size, job, None, run.elapsed_s, note=note)


def not_run_outcome(path: Path, size: int) -> FileOutcome:
    return FileOutcome(path, Result.NOT_RUN, size)
