"""The jobs the TUI tracks: local steps (waiting, hashing, uploading, downloading) and
the server's states, with what the jobs table shows for each."""

from __future__ import annotations

import enum
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from app.client.byte_sizes import human_bytes
from app.protocol import ErrorInfo

_local_ids = itertools.count(1)
# The transfer rate is measured over this window, so it follows the network's changes.
RATE_WINDOW_S: Final = 3.0


class Step(enum.StrEnum):
    WAITING = "waiting"  # behind another job: the server runs one job per client IP
    HASHING = "hashing"
    UPLOADING = "uploading"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DOWNLOADING = "downloading"
    SAVED = "saved"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # the server no longer knows the job

    @property
    def on_server(self) -> bool:
        """The server holds the job (or its result) and `status` tells about it."""
        return self in (Step.QUEUED, Step.RUNNING, Step.DONE, Step.DOWNLOADING)

    @property
    def final(self) -> bool:
        return self in (Step.SAVED, Step.FAILED, Step.CANCELLED, Step.EXPIRED)


_SERVER_STATES: Final = {
    "queued": Step.QUEUED,
    "running": Step.RUNNING,
    "done": Step.DONE,
    "failed": Step.FAILED,
    "cancelled": Step.CANCELLED,
}


class TransferMeter:
    """Bytes moved so far, the recent rate and the time left."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.done_bytes = 0
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    def advance(self, n: int) -> None:
        self.done_bytes += n
        now = time.monotonic()
        self._samples.append((now, self.done_bytes))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 0.0

    @property
    def rate_bytes_s(self) -> float | None:
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 - t0 > 0.2 else None

    @property
    def eta_s(self) -> float | None:
        rate = self.rate_bytes_s
        return (self.total_bytes - self.done_bytes) / rate if rate else None

    def describe(self) -> str:
        parts = [f"{human_bytes(self.done_bytes)} / {human_bytes(self.total_bytes)}"]
        rate, eta = self.rate_bytes_s, self.eta_s
        parts.append(f"{human_bytes(rate)}/s" if rate is not None else "…/s")
        parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA …")
        return "  ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@dataclass(eq=False)
class TrackedJob:
    path: Path
    op: str
    params: dict[str, Any]
    step: Step = Step.WAITING
    key: str = field(default_factory=lambda: f"job-{next(_local_ids)}")
    job_id: str | None = None
    server: str = ""
    input_size: int | None = None
    progress: float = 0.0
    eta_s: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None
    transfer: TransferMeter | None = None
    saved_path: Path | None = None

    def apply_status(self, status: dict[str, Any]) -> None:
        """Take the server's `status` answer (SPEC §2.1) into this job."""
        step = _SERVER_STATES.get(str(status.get("state")))
        if step is not None and self.step is not Step.DOWNLOADING:
            self.step = step
        progress = status.get("progress")
        if isinstance(progress, int | float):
            self.progress = float(progress)
        eta = status.get("eta_s")
        self.eta_s = float(eta) if isinstance(eta, int | float) else None
        if isinstance(status.get("input_size"), int):
            self.input_size = status["input_size"]
        if isinstance(status.get("result"), dict):
            self.result = status["result"]
            if self.result.get("downloaded") and self.step is Step.DONE:
                # Downloaded elsewhere (another client): nothing left to fetch.
                self.step = Step.EXPIRED
        if isinstance(status.get("error"), dict):
            self.error = ErrorInfo.from_json({"error": status["error"]})

    # What the jobs table shows.
    def progress_text(self) -> str:
        if self.step in (Step.UPLOADING, Step.DOWNLOADING) and self.transfer is not None:
            return f"{self.transfer.fraction:.0%}"
        if self.step is Step.RUNNING:
            eta = f" {format_duration(self.eta_s)}" if self.eta_s is not None else ""
            return f"{self.progress:.0%}{eta}"
        if self.step in (Step.DONE, Step.SAVED):
            return "100%"
        return ""

    @property
    def output_size(self) -> int | None:
        size = self.result.get("output_size", self.result.get("size"))
        return size if isinstance(size, int) else None

    def reduction_text(self) -> str:
        size_in, size_out = self.input_size, self.output_size
        if not size_in or size_out is None:
            return ""
        change = 1 - size_out / size_in
        return f"{change:.0%}" if change >= 0 else f"+{-change:.0%}"

    def to_record(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "job_id": self.job_id,
            "path": str(self.path),
            "op": self.op,
            "input_size": self.input_size,
        }

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> TrackedJob:
        job = cls(Path(str(doc["path"])), str(doc["op"]), {}, step=Step.QUEUED)
        job.job_id = str(doc["job_id"])
        job.server = str(doc.get("server", ""))
        size = doc.get("input_size")
        job.input_size = size if isinstance(size, int) else None
        return job
