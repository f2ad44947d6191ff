"""The job store interface: every job's row, the quota and the work queue (docs/operations.md, §7).

Two backends share one set of transactions (`SqlJobStore`, sql_jobs.py): SQLite for
one node (embedded, nothing to install; replaces the JSON index) and PostgreSQL for a
cluster. Each state change is one short transaction in a method named for it; what a
transition must free (quota, the address's claim) is freed in that same transaction,
so no exit path can leak it.

Job states: uploading → queued → running → done | failed | cancelled. `uploading`
exists so that the one-job-per-address rule and the quota are settled (in the row's
INSERT) before any payload byte is stored. A partial unique index on `client_ip` over
the active states makes the rule hold across every node at once.

The work queue holds tasks: task 0 of kind "job" runs a whole job; chunked jobs
(issue 19) add tasks of other kinds that any node may claim, each with its own lease
and attempt count. A claim is `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite
has one writer at a time); a lease is renewed while FFmpeg runs and a task whose lease
ran out is queued again for another node, up to MAX_ATTEMPTS runs.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Final

import trio

from app.protocol.errors import ErrorInfo


class JobState(enum.StrEnum):
    UPLOADING = "uploading"  # the payload arrives: the address and quota are held
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


# A job whose task was lost this many times (its node died each time) fails.
MAX_ATTEMPTS: Final = 3
LEASE_S: Final = 30.0


ACTIVE_STATES: Final = (JobState.UPLOADING, JobState.QUEUED, JobState.RUNNING)


class AddressBusy(Exception):
    """The address already has an active job (on any node)."""


class QuotaFull(Exception):
    """The store (or, with `address`, that address's share of it) cannot hold more."""

    def __init__(self, needed: int, free: int, limit: int, address: str | None = None) -> None:
        super().__init__(f"{needed} bytes needed, {free} free of {limit}")
        self.needed, self.free, self.limit, self.address = needed, free, limit, address


class QueueFull(Exception):
    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} jobs waiting")
        self.waiting = waiting


class NetworkBusy(Exception):
    def __init__(self, network: str, active: int) -> None:
        super().__init__(f"{active} active jobs from {network}")
        self.network, self.active = network, active


class KeyBusy(Exception):
    """The client key already has as many active jobs as its authorized-keys line allows."""

    def __init__(self, name: str, active: int) -> None:
        super().__init__(f"key {name} has {active} active jobs")
        self.name, self.active = name, active


class KeyQuotaFull(Exception):
    """The client key's jobs hold too much for its own quota to take this upload."""

    def __init__(self, name: str, held: int, needed: int, limit: int) -> None:
        super().__init__(f"key {name} holds {held} of {limit} bytes, {needed} more needed")
        self.name, self.held, self.needed, self.limit = name, held, needed, limit


@dataclass(frozen=True, slots=True)
class OwnerCaps:
    """A client key's own caps, from its authorized-keys line (None: no own cap)."""

    name: str = ""
    max_jobs: int | None = None  # uploading, queued or running at once
    quota_bytes: int | None = None  # held by its jobs: inputs and results


@dataclass(frozen=True, slots=True)
class AdmissionCaps:
    """Cluster-wide caps checked in `accept_upload` (0: no cap)."""

    max_queued_jobs: int = 0  # uploading + queued, in all
    max_jobs_per_network: int = 0  # active jobs from one /24 or /64
    owner: OwnerCaps | None = None  # the uploading key's own caps, if it has any


class StoreUnavailable(Exception):
    """The job store cannot be reached (e.g. PostgreSQL restarting); try again later."""


class TransitionRefused(Exception):
    """The job is not in a state that allows this change (another request won)."""


@dataclass(frozen=True, slots=True)
class NewJob:
    """What an upload request knows before its payload arrives."""

    id: str
    op: str
    params: dict[str, Any]
    client_ip: str
    filename: str
    input_key: str
    input_size: int
    input_media_type: str
    owner: str | None = None  # the client key's fingerprint (docs/security.md), when known
    network: str = ""  # the address's /24 or /64 block (default: the address itself)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's row as stored: what `status` and `download` answer from, on any node."""

    id: str
    op: str
    params: dict[str, Any]
    client_ip: str
    owner: str | None
    filename: str
    input_key: str
    input_size: int
    input_media_type: str
    state: JobState
    phase: str
    progress: float
    eta_s: float | None
    error: ErrorInfo | None
    result_key: str | None
    result_media_type: str | None
    result_size: int | None
    result_sha256: str | None
    report: dict[str, Any]
    created_at: float
    finished_at: float | None
    downloaded: bool
    input_reserved: int
    result_reserved: int
    node: str
    attempts: int


@dataclass(frozen=True, slots=True)
class FinishedResult:
    key: str
    media_type: str
    size: int
    sha256: str
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Task:
    """A claimed unit of work: task 0 ("job") runs a whole job."""

    job_id: str
    task_no: int
    kind: str
    spec: dict[str, Any]
    attempt: int


def error_to_text(error: ErrorInfo | None) -> str | None:
    return json.dumps(error.to_json()) if error is not None else None


def error_from_text(text: str | None) -> ErrorInfo | None:
    return ErrorInfo.from_json(json.loads(text)) if text else None


class ChangeBoard:
    """Wake-ups for long polls and idle workers: one event per watched job, one for work.

    Fed by the store itself after each commit (one node) and by PostgreSQL's
    LISTEN/NOTIFY (changes made by other nodes); always called in the trio thread.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, trio.Event] = {}
        self._work = trio.Event()
        # Jobs this node runs: a cancel made anywhere cancels their scope here.
        self._running: dict[str, trio.CancelScope] = {}

    def job_signal(self, job_id: str) -> trio.Event:
        """Set at the job's next change: take it before reading the job's record, wait on
        it after, and no change made in between is missed."""
        return self._jobs.setdefault(job_id, trio.Event())

    def work_signal(self) -> trio.Event:
        """Set when work is next queued (take it before looking at the queue)."""
        return self._work

    @property
    def running_count(self) -> int:
        return len(self._running)

    def job_changed(self, job_id: str) -> None:
        event = self._jobs.pop(job_id, None)
        if event is not None:
            event.set()

    def work_queued(self) -> None:
        self._work.set()
        self._work = trio.Event()

    def job_cancelled(self, job_id: str) -> None:
        scope = self._running.get(job_id)
        if scope is not None:
            scope.cancel()
        self.job_changed(job_id)

    def running_here(self, job_id: str, scope: trio.CancelScope) -> None:
        self._running[job_id] = scope

    def not_running_here(self, job_id: str) -> None:
        self._running.pop(job_id, None)

    async def wait_job(self, job_id: str) -> None:
        event = self._jobs.setdefault(job_id, trio.Event())
        await event.wait()

    async def wait_work(self) -> None:
        await self._work.wait()
