"""One job: its id, its state, what `status` shows of it, and its record on disk.

Its transitions (accepted, started, finished, downloaded, expired…) belong to the
JobRegistry (registry.py): nothing else moves a job from one state to another.
"""

from __future__ import annotations

import enum
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import trio

from app.protocol.errors import ErrorInfo

# The shape of a job id and the answer to a wrong one are the op table's (`job_id`).
from app.protocol.ops import JOB_ID_RE, job_not_found
from app.server.quota import Reservation

__all__ = ["JOB_ID_RE", "Job", "JobState", "job_not_found", "new_job_id"]

JOB_ID_BYTES: Final = 16  # 128 random bits
NODE_ID_RE: Final = re.compile(r"[a-z0-9]{1,16}", re.ASCII)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


def new_job_id(node_id: str = "") -> str:
    """128 random bits; prefixed with the node's id so a request that reaches the wrong
    node behind a balancer can say so (SPEC §7)."""
    token = secrets.token_hex(JOB_ID_BYTES)
    return f"{node_id}-{token}" if node_id else token


@dataclass(eq=False)
class Job:
    id: str
    op: str
    params: dict[str, Any]
    client_ip: str
    filename: str
    input_path: Path
    input_size: int
    input_media_type: str
    created_at: float = field(default_factory=time.time)
    state: JobState = JobState.QUEUED
    phase: str = "queued"
    progress: float = 0.0
    eta_s: float | None = None
    error: ErrorInfo | None = None
    result_path: Path | None = None
    result_media_type: str | None = None
    result_size: int | None = None
    result_sha256: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    finished_at: float | None = None
    downloaded: bool = False
    # The client key (fingerprint) that created the job over an encrypted session: only
    # it may see the job (docs/security.md). None: a plaintext job, bound to its address.
    owner: str | None = None
    # Runtime only: never persisted.
    cancel_scope: trio.CancelScope | None = None
    input_reservation: Reservation | None = None
    result_reservation: Reservation | None = None
    changed: trio.Event = field(default_factory=trio.Event)

    def notify(self) -> None:
        """Wake long-polling `status` requests."""
        self.changed.set()
        self.changed = trio.Event()

    def set_progress(self, fraction: float, eta_s: float | None, phase: str | None = None) -> None:
        self.progress = max(self.progress, min(1.0, fraction))
        self.eta_s = None if eta_s is None else round(max(0.0, eta_s), 1)
        if phase is not None:
            self.phase = phase
        self.notify()

    def finish(self, state: JobState, error: ErrorInfo | None = None) -> None:
        self.state = state
        self.phase = str(state)
        self.error = error
        self.finished_at = time.time()
        self.eta_s = None if state is not JobState.DONE else 0.0
        if state is JobState.DONE:
            self.progress = 1.0
        self.notify()

    def result_filename(self) -> str:
        stem = Path(self.filename).stem or "result"
        return f"{stem}.{self.op}.{self.result_media_type}"

    def status_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "job_id": self.id,
            "op": self.op,
            "state": str(self.state),
            "phase": self.phase,
            "progress": round(self.progress, 4),
            "eta_s": self.eta_s,
            "input_size": self.input_size,
        }
        if self.error is not None:
            doc["error"] = self.error.to_json()["error"]
        if self.state is JobState.DONE:
            doc["result"] = {
                "filename": self.result_filename(),
                "media_type": self.result_media_type,
                "size": self.result_size,
                "sha256": self.result_sha256,
                "downloaded": self.downloaded,
                **self.report,
            }
        return doc

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "params": self.params,
            "client_ip": self.client_ip,
            "filename": self.filename,
            "input_path": str(self.input_path),
            "input_size": self.input_size,
            "input_media_type": self.input_media_type,
            "created_at": self.created_at,
            "state": str(self.state),
            "error": self.error.to_json() if self.error else None,
            "result_path": str(self.result_path) if self.result_path else None,
            "result_media_type": self.result_media_type,
            "result_size": self.result_size,
            "result_sha256": self.result_sha256,
            "report": self.report,
            "finished_at": self.finished_at,
            "downloaded": self.downloaded,
            "owner": self.owner,
        }

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Job:
        job = cls(
            id=str(doc["id"]),
            op=str(doc["op"]),
            params=dict(doc["params"]),
            client_ip=str(doc["client_ip"]),
            filename=str(doc["filename"]),
            input_path=Path(doc["input_path"]),
            input_size=int(doc["input_size"]),
            input_media_type=str(doc["input_media_type"]),
            created_at=float(doc["created_at"]),
            state=JobState(doc["state"]),
            result_path=Path(doc["result_path"]) if doc.get("result_path") else None,
            result_media_type=doc.get("result_media_type"),
            result_size=doc.get("result_size"),
            result_sha256=doc.get("result_sha256"),
            report=dict(doc.get("report") or {}),
            finished_at=doc.get("finished_at"),
            downloaded=bool(doc.get("downloaded")),
            owner=doc.get("owner"),
        )
        if doc.get("error"):
            job.error = ErrorInfo.from_json(doc["error"])
        job.phase = str(job.state)
        if job.state is JobState.DONE:
            job.progress = 1.0
        return job
